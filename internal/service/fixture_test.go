package service

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/yaml"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/netstack"
)

// loadCluster reads testdata/cluster.yaml, a List as the recording wrote it, into a snapshot.
// edit may change the objects before the snapshot indexes them.
func loadCluster(t testing.TB, edit func(*cluster.Snapshot)) *cluster.Snapshot {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := yaml.Unmarshal(b, &list); err != nil {
		t.Fatalf("parse cluster.yaml: %v", err)
	}
	snap := &cluster.Snapshot{}
	for _, raw := range list.Items {
		var meta struct {
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			t.Fatal(err)
		}
		var err error
		switch meta.Kind {
		case "Pod":
			snap.Pods = append(snap.Pods, corev1.Pod{})
			err = json.Unmarshal(raw, &snap.Pods[len(snap.Pods)-1])
		case "Node":
			snap.Nodes = append(snap.Nodes, corev1.Node{})
			err = json.Unmarshal(raw, &snap.Nodes[len(snap.Nodes)-1])
		case "Namespace":
			snap.Namespaces = append(snap.Namespaces, corev1.Namespace{})
			err = json.Unmarshal(raw, &snap.Namespaces[len(snap.Namespaces)-1])
		case "Service":
			snap.Services = append(snap.Services, corev1.Service{})
			err = json.Unmarshal(raw, &snap.Services[len(snap.Services)-1])
		case "EndpointSlice":
			snap.EndpointSlices = append(snap.EndpointSlices, discoveryv1.EndpointSlice{})
			err = json.Unmarshal(raw, &snap.EndpointSlices[len(snap.EndpointSlices)-1])
		default:
			t.Fatalf("cluster.yaml: unexpected kind %q", meta.Kind)
		}
		if err != nil {
			t.Fatalf("cluster.yaml %s: %v", meta.Kind, err)
		}
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
	b, err := os.ReadFile(filepath.Join("testdata", "iptables", "node-a.iptables"))
	if err != nil {
		t.Fatal(err)
	}
	rules := string(b)
	if edit != nil {
		rules = edit(rules)
	}
	return &netstack.Netstack{
		Interfaces: []netstack.Interface{
			{Index: 1, Name: "lo", Kind: "loopback", MTU: 65536, Up: true, Addresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
			{Index: 2, Name: "eth0", Kind: "veth", MTU: 1500, Up: true, Addresses: []netip.Prefix{netip.MustParsePrefix("172.18.0.2/24")}},
		},
		IPTables:        rules,
		IPTablesBackend: "nft",
	}
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
