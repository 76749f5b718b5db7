package diagnose

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
	"github.com/netdiag/netdiag/internal/snapshotdir"
)

// editRules rewrites a node's iptables-save text.
func editRules(stack *netstack.Netstack, f func(string) string) { stack.IPTables = f(stack.IPTables) }

// withoutLines drops every line that contains one of subs.
func withoutLines(text string, subs ...string) string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		keep := true
		for _, s := range subs {
			keep = keep && !strings.Contains(line, s)
		}
		if keep {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestServicesFlannel follows a pod's packet to the web service (endpoints web-0 on node-0
// and web-1 on node-1, 10.96.0.10:80 -> :8080) through node-0's kube-proxy rules, with the
// rules or the objects broken the way a lagging or stopped kube-proxy breaks them.
func TestServicesFlannel(t *testing.T) {
	toWeb := func(f flow) flow {
		f.src, f.dst, f.proto = "pod:default/client", "service:default/web", model.TCP
		if f.port == 0 {
			f.port = 80
		}
		return f
	}
	web := func(c *fixture.Cluster) *corev1.Service { return c.Snapshot.Service("default", "web") }
	cases := map[string]flow{
		"healthy: both endpoints": {want: Reachable, via: []string{"service/default/web", "pod/default/web-0", "pod/default/web-1"}},
		"stale endpoint rule: node-0 still sends to a pod that is gone": {
			fault: func(c *fixture.Cluster) {
				editRules(c.Host("node-0"), func(s string) string {
					return strings.ReplaceAll(s, "--to-destination 10.244.1.10:8080", "--to-destination 10.244.1.99:8080")
				})
			},
			// The stale branch dies on node-1's bridge, the other arrives: half the new
			// connections fail; the live endpoint gets no rule.
			want:    PartiallyReachable,
			reasons: []model.Reason{model.ReasonServiceEndpointStale, model.ReasonNeighbourMissing, model.ReasonServiceRulesMissing},
		},
		"rules missing: kube-proxy never ran on node-0": {
			fault: func(c *fixture.Cluster) {
				editRules(c.Host("node-0"), func(s string) string { return withoutLines(s, "KUBE-") })
			},
			// Untranslated, the cluster IP goes to the default gateway, out of the cluster.
			want:    Unreachable,
			reasons: []model.Reason{model.ReasonRouteWrongNode, model.ReasonServiceRulesMissing},
		},
		"rules missing: kube-proxy has not synced the service": {
			fault: func(c *fixture.Cluster) {
				editRules(c.Host("node-0"), func(s string) string { return withoutLines(s, "default/web:http") })
			},
			want:    Unreachable,
			reasons: []model.Reason{model.ReasonRouteWrongNode, model.ReasonServiceRulesMissing},
		},
		"internalTrafficPolicy Local without a ready endpoint on node-0": {
			fault: func(c *fixture.Cluster) {
				web(c).Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
				for i := range c.Snapshot.EndpointSlices {
					es := &c.Snapshot.EndpointSlices[i]
					for j := range es.Endpoints {
						if ptr.Deref(es.Endpoints[j].NodeName, "") == "node-0" {
							es.Endpoints[j].Conditions = discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(false)}
						}
					}
				}
				// What kube-proxy writes then (proxier.go): no translation, a DROP.
				editRules(c.Host("node-0"), func(s string) string { return withoutLines(s, "default/web:http") })
				fixture.InsertRule(c.Host("node-0"), "filter", `KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http has no local endpoints" -m tcp --dport 80 -j DROP`)
			},
			want:    Unreachable,
			reasons: []model.Reason{model.ReasonServiceLocalNoEndpoints},
		},
		"port that is not a port of the service": {
			port:    81,
			want:    Unreachable,
			reasons: []model.Reason{model.ReasonRouteWrongNode, model.ReasonServicePortMissing},
		},
		"a rule that is not kube-proxy's drops one endpoint after the translation": {
			fault: func(c *fixture.Cluster) {
				fixture.InsertRule(c.Host("node-0"), "filter", "FORWARD -d 10.244.1.10/32 -p tcp -j DROP")
			},
			// web-0's branch still arrives.
			want:    PartiallyReachable,
			reasons: []model.Reason{model.ReasonIPTablesDrop},
		},
	}
	for _, backend := range []string{flanneltest.VXLAN, flanneltest.HostGW} {
		for name, f := range cases {
			t.Run(backend+"/"+name, func(t *testing.T) { runFlow(t, backend, toWeb(f)) })
		}
	}
}

// recorded is the cluster kube-proxy's rules were recorded for (internal/service/testdata):
// node-a (172.18.0.2, pods 10.244.1.0/24) runs the real kube-proxy's rules, node-b
// (172.18.0.3, pods 10.244.2.0/24) is reached by host-gw routes. Only the nodes' own
// namespaces are collected.
func recorded(t *testing.T, editRules func(string) string, editObjects func(*cluster.Snapshot)) Input {
	t.Helper()
	dir := filepath.Join("..", "service", "testdata")
	snap := &cluster.Snapshot{}
	if n, err := snapshotdir.ReadObjects(filepath.Join(dir, "cluster.yaml"), snap); err != nil || n == 0 {
		t.Fatalf("cluster.yaml: %d objects, %v", n, err)
	}
	if editObjects != nil {
		editObjects(snap)
	}
	rules, err := os.ReadFile(filepath.Join(dir, "iptables", "node-a.iptables"))
	if err != nil {
		t.Fatal(err)
	}
	a := recordedNode("node-a", 2, 1, 3)
	a.Host.IPTables = string(rules)
	if editRules != nil {
		a.Host.IPTables = editRules(a.Host.IPTables)
	}
	return Input{Cluster: snap, Nodes: map[string]*netstack.NodeSnapshot{"node-a": a, "node-b": recordedNode("node-b", 3, 2, 2)}}
}

// recordedNode lays out a node of the recorded cluster: eth0 on the underlay, its pods'
// subnet on cni0, a host-gw route to the other node's subnet.
func recordedNode(name string, host, subnet, peer byte) *netstack.NodeSnapshot {
	ip := netip.AddrFrom4([4]byte{172, 18, 0, host})
	gw := netip.AddrFrom4([4]byte{10, 244, subnet, 1})
	other := 3 - subnet
	p := netip.MustParsePrefix
	return &netstack.NodeSnapshot{Version: netstack.Version, Node: name, Host: netstack.Netstack{
		Interfaces: []netstack.Interface{
			{Index: 1, Name: "lo", Kind: "loopback", MTU: 65536, Up: true, Addresses: []netip.Prefix{p("127.0.0.1/8")}},
			{Index: 2, Name: "eth0", Kind: "veth", MTU: 1500, Up: true, OperState: "up", Addresses: []netip.Prefix{netip.PrefixFrom(ip, 24)}},
			{Index: 3, Name: "cni0", Kind: "bridge", MTU: 1500, Up: true, OperState: "up", Addresses: []netip.Prefix{netip.PrefixFrom(gw, 24)}, Bridge: &netstack.BridgeAttrs{}},
		},
		Routes: []netstack.Route{
			{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: p("0.0.0.0/0"), Gateway: netip.MustParseAddr("172.18.0.1"), Device: "eth0"},
			{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: p("172.18.0.0/24"), Device: "eth0", Scope: "link", Src: ip},
			{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: netip.PrefixFrom(gw, 24).Masked(), Device: "cni0", Scope: "link", Src: gw},
			{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, other, 0}), 24),
				Gateway: netip.AddrFrom4([4]byte{172, 18, 0, peer}), Device: "eth0"},
			{Table: netstack.TableLocal, Type: netstack.RouteLocal, Dst: p("127.0.0.0/8"), Device: "lo", Scope: "host"},
			{Table: netstack.TableLocal, Type: netstack.RouteLocal, Dst: netip.PrefixFrom(ip, 32), Device: "eth0", Scope: "host", Src: ip},
			{Table: netstack.TableLocal, Type: netstack.RouteLocal, Dst: netip.PrefixFrom(gw, 32), Device: "cni0", Scope: "host", Src: gw},
		},
		Sysctls: map[string]string{"ipv4/ip_forward": "1", "ipv4/conf/all/forwarding": "1", "ipv4/conf/all/rp_filter": "2",
			"ipv4/conf/eth0/forwarding": "1", "ipv4/conf/cni0/forwarding": "1"},
		Listening: []netstack.Socket{{Protocol: "TCP", Address: netip.MustParseAddrPort("0.0.0.0:10250")}},
	}}
}

// TestServicesRecorded diagnoses node-a's own connections to the recorded services, through
// the rules the real kube-proxy wrote, with the same faults as the flannel clusters.
func TestServicesRecorded(t *testing.T) {
	type tc struct {
		dst     string
		port    uint16
		rules   func(string) string
		objects func(*cluster.Snapshot)
		want    Verdict
		reasons []model.Reason
		// says is a text the summary or a suspicion must contain.
		says string
	}
	cases := map[string]tc{
		"healthy cluster IP: the branches reach pods whose namespaces were not collected": {
			dst: "service:shop/web", port: 80, want: Unknown,
		},
		"stale endpoint rule": {
			dst: "service:shop/web", port: 80,
			rules: func(s string) string {
				return strings.Replace(s, "--to-destination 10.244.2.13:8080", "--to-destination 10.244.2.99:8080", 1)
			},
			// No pod on node-b's bridge holds the stale address.
			want:    Unreachable,
			reasons: []model.Reason{model.ReasonServiceEndpointStale, model.ReasonNeighbourMissing, model.ReasonServiceRulesMissing},
			says:    "10.244.2.99:8080",
		},
		"rules missing: kube-proxy stopped before it synced the service": {
			dst: "service:shop/web", port: 80,
			rules:   func(s string) string { return withoutLines(s, "shop/web:http", "KUBE-SVC-67NZLRHBNDSAWJRO") },
			want:    Unreachable,
			reasons: []model.Reason{model.ReasonRouteWrongNode, model.ReasonServiceRulesMissing},
			says:    "has no iptables rules for Service shop/web port http",
		},
		"rules missing: kube-proxy never ran": {
			dst: "service:shop/web", port: 80,
			rules:   func(s string) string { return withoutLines(s, "KUBE-") },
			want:    Unreachable,
			reasons: []model.Reason{model.ReasonRouteWrongNode, model.ReasonServiceRulesMissing},
			says:    "no service rules at all",
		},
		"internalTrafficPolicy Local without a local endpoint": {
			dst: "service:shop/internal-local", port: 5432,
			want:    Unreachable,
			reasons: []model.Reason{model.ReasonServiceLocalNoEndpoints},
			says:    "internalTrafficPolicy Local",
		},
		"service without endpoints": {
			dst: "service:shop/empty", port: 80,
			want:    Unreachable,
			reasons: []model.Reason{model.ReasonServiceNoEndpoints},
		},
		"port that is not a port of the service": {
			dst: "service:shop/web", port: 8080,
			want:    Unreachable,
			reasons: []model.Reason{model.ReasonRouteWrongNode, model.ReasonServicePortMissing},
			says:    "has no port TCP/8080",
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			in := recorded(t, c.rules, c.objects)
			in.Question = model.Question{Source: endpoint(t, in.Cluster, "node:node-a"), Destination: endpoint(t, in.Cluster, c.dst), Protocol: model.TCP, Port: c.port}
			res, err := Diagnose(in)
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, in.Question, res, c.want, c.reasons, c.says)
		})
	}
}

// checkResult compares a diagnosis with the verdict and the codes at Warning or above, and
// looks for a text in the summary and the suspicions; it prints the whole result on failure.
func checkResult(t *testing.T, q model.Question, res *Result, want Verdict, reasons []model.Reason, says string) {
	t.Helper()
	var got []model.Reason
	text := res.Summary
	for _, s := range res.Suspicions {
		if s.Level >= model.Warning {
			got = append(got, s.Reason)
		}
		text += "\n" + s.Message
	}
	var problems []string
	if res.Verdict != want {
		problems = append(problems, "verdict "+string(res.Verdict)+", want "+string(want))
	}
	if strings.Join(reasonStrings(got), ",") != strings.Join(reasonStrings(reasons), ",") {
		problems = append(problems, "reasons "+strings.Join(reasonStrings(got), ",")+", want "+strings.Join(reasonStrings(reasons), ","))
	}
	if says != "" && !strings.Contains(text, says) {
		problems = append(problems, "nothing says "+says)
	}
	if len(problems) > 0 {
		var b strings.Builder
		if err := WriteText(&b, q, res); err != nil {
			t.Fatal(err)
		}
		t.Errorf("%s\n\n%s", strings.Join(problems, "\n"), b.String())
	}
}

func reasonStrings(rs []model.Reason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}
