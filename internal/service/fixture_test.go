package service

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/snapshotdir"
)

// loadCluster reads testdata/cluster.yaml, a List as the recording wrote it, into a snapshot.
// edit may change the objects before the snapshot indexes them.
func loadCluster(t testing.TB, edit func(*cluster.Snapshot)) *cluster.Snapshot {
	t.Helper()
	snap := &cluster.Snapshot{}
	if n, err := snapshotdir.ReadObjects(filepath.Join("testdata", "cluster.yaml"), snap); err != nil || n == 0 {
		t.Fatalf("cluster.yaml: %d objects, %v", n, err)
	}
	if edit != nil {
		edit(snap)
	}
	return snap
}

// nodeA is node-a's own namespace as kube-proxy saw it when the rules were recorded: lo and
// eth0 with the node's address, and the rules from testdata/iptables (changed by edit).
func nodeA(t testing.TB, edit func(string) string) *netstack.Netstack {
	t.Helper()
	rules := string(readFixture(t, filepath.Join("testdata", "iptables", "node-a.iptables")))
	if edit != nil {
		rules = edit(rules)
	}
	ns := nodeAStack()
	ns.IPTables, ns.IPTablesBackend = rules, "nft"
	return ns
}

// nodeAStack is node-a's namespace without rules, as both recordings saw it: lo, and eth0
// with the node's address.
func nodeAStack() *netstack.Netstack {
	return &netstack.Netstack{Interfaces: []netstack.Interface{
		{Index: 1, Name: "lo", Kind: "loopback", MTU: 65536, Up: true, Addresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
		{Index: 2, Name: "eth0", Kind: "veth", MTU: 1500, Up: true, Addresses: []netip.Prefix{netip.MustParsePrefix(nodeAIP + "/24")}},
	}}
}

// readFixture is the content of a file under testdata (or another package's).
func readFixture(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dropLines removes every line of text that contains one of subs.
func dropLines(text string, subs ...string) string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		keep := true
		for _, s := range subs {
			if strings.Contains(line, s) {
				keep = false
			}
		}
		if keep {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// insertAfter puts line after the first line of text that starts with prefix.
func insertAfter(text, prefix, line string) string {
	i := strings.Index(text, "\n"+prefix)
	if i < 0 {
		panic(fmt.Sprintf("no line starts with %q", prefix))
	}
	j := strings.Index(text[i+1:], "\n") + i + 1
	return text[:j+1] + line + "\n" + text[j+1:]
}

// slice returns the EndpointSlice of a service in the snapshot.
func slice(snap *cluster.Snapshot, name string) *discoveryv1.EndpointSlice {
	for i := range snap.EndpointSlices {
		if snap.EndpointSlices[i].Labels[discoveryv1.LabelServiceName] == name {
			return &snap.EndpointSlices[i]
		}
	}
	panic("no slice for " + name)
}

// checkProcess is the body of every recorded-rules table: the packet arrives at node-a, whose
// stack must be in mode, from origin; the result must summarize to want, the first branch's
// deciding rule contain wantRule and some step or suspicion say wantText (each when not
// empty), and the branches' probabilities add up to 1. A mismatch prints the whole trace.
func checkProcess(t *testing.T, snap *cluster.Snapshot, stack *netstack.Netstack, mode Mode, origin Origin, p model.Packet, want got, wantRule, wantText string) {
	t.Helper()
	if m := DetectMode(stack); m != mode {
		t.Fatalf("DetectMode = %s, want %s", m, mode)
	}
	res, err := New().Process(snap, Arrival{Node: "node-a", Stack: stack, Packet: p, Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != mode {
		t.Errorf("Mode = %s, want %s", res.Mode, mode)
	}
	if diff := cmp.Diff(want, summarize(res)); diff != "" {
		t.Errorf("result (-want +got):\n%s\ntrace:\n%s", diff, trace(res))
	}
	if wantRule != "" && (len(res.Branches) == 0 || !strings.Contains(res.Branches[0].Rule, wantRule)) {
		t.Errorf("deciding rule of the first branch does not contain %q\ntrace:\n%s", wantRule, trace(res))
	}
	if wantText != "" && !explained(res, wantText) {
		t.Errorf("no step or suspicion says %q\ntrace:\n%s", wantText, trace(res))
	}
	sum := 0.0
	for _, b := range res.Branches {
		sum += b.Probability
	}
	if math.Abs(sum-1) > 1e-6 {
		t.Errorf("branch probabilities add up to %f, want 1\ntrace:\n%s", sum, trace(res))
	}
}

// The web service's http port, as every mode translates a pod's packet to it when nothing is
// broken: its three ready endpoints, one third each (web-4 is terminating).
const (
	webHTTP          = "shop/web:http ClusterIP"
	webHTTPEndpoints = "10.244.1.11:8080, 10.244.1.12:8080, 10.244.2.13:8080"
)

// webHTTPBranches are the branches to web-1 and web-2 on node-a, then third for web-3's.
func webHTTPBranches(third string) []string {
	return []string{"Translated 10.244.1.11:8080 p=0.33 pod=web-1 local", "Translated 10.244.1.12:8080 p=0.33 pod=web-2 local", third}
}
