package policy

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
)

// FuzzIPBlock checks the ipBlock parser against its definition: an address matches only when
// the cidr parses and holds it and no except entry parses-and-holds it; any except entry that
// does not parse voids the block.
func FuzzIPBlock(f *testing.F) {
	f.Add("10.0.0.0/8", "10.1.0.0/16", "10.1.2.3")
	f.Add("10.0.0.0/8", "10.1.0.0/16", "10.2.2.3")
	f.Add("2001:db8::/32", "2001:db8:1::/48", "2001:db8::1")
	f.Add("0.0.0.0/0", "", "::ffff:10.0.0.1")
	f.Add("10.0.0.1/8", "10.0.0.300/32", "10.0.0.1")
	f.Add("::/0", "::ffff:0:0/96", "192.0.2.1")
	f.Fuzz(func(t *testing.T, cidr, except, addr string) {
		ip, err := netip.ParseAddr(addr)
		if err != nil {
			return
		}
		block := &networkingv1.IPBlock{CIDR: cidr}
		if except != "" {
			block.Except = []string{except}
		}
		c := &compiledPolicy{ref: PolicyRef{Namespace: "x", Name: "fuzz"}}
		peer := c.compileIPBlock("peer", block)
		got := peer.matches("x", &endpoint{ip: ip.Unmap()})

		want := false
		if p, err := netip.ParsePrefix(cidr); err == nil && p.Masked().Contains(ip.Unmap()) {
			want = true
			if except != "" {
				ex, err := netip.ParsePrefix(except)
				if err != nil || ex.Masked().Contains(ip.Unmap()) {
					want = false
				}
			}
		}
		if got != want {
			t.Fatalf("ipBlock{cidr: %q, except: %q} matches %s = %t, want %t", cidr, except, addr, got, want)
		}
		if (peer.kind == peerNothing) != (len(c.problems) > 0) {
			t.Fatalf("a block that matches nothing must say why, and only then: kind %v, problems %q", peer.kind, c.problems)
		}
	})
}

// FuzzPolicy feeds arbitrary policy documents to the evaluator: whatever parses as a
// NetworkPolicy is evaluated without panicking, and a pod that no policy isolates is allowed.
func FuzzPolicy(f *testing.F) {
	f.Add(`{metadata: {name: p, namespace: x}, spec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}], ports: [{port: http}, {port: 80, endPort: 90, protocol: UDP}]}]}}`)
	f.Add(`{metadata: {name: p, namespace: x}, spec: {podSelector: {matchExpressions: [{key: app, operator: NotIn, values: [a]}]}, policyTypes: [Egress], egress: [{to: [{namespaceSelector: {}, podSelector: {matchLabels: {app: b}}}]}]}}`)
	f.Add(`{metadata: {name: p, namespace: x}, spec: {podSelector: {}, policyTypes: [Bogus], ingress: [{ports: [{port: 0}, {port: 70000}, {protocol: ICMP}]}]}}`)
	web := makePod("x", "web").labels("app", "a").ip("10.0.1.1").node("n1").port("http", 80, corev1.ProtocolTCP).obj()
	cli := makePod("y", "cli").labels("app", "b").ip("10.1.0.1").node("n2").obj()
	f.Fuzz(func(t *testing.T, doc string) {
		var np networkingv1.NetworkPolicy
		if err := yaml.Unmarshal([]byte(doc), &np); err != nil {
			return
		}
		np.Namespace = "x"
		snap := &cluster.Snapshot{
			Pods:            []corev1.Pod{web, cli},
			Namespaces:      []corev1.Namespace{makeNamespace("x"), makeNamespace("y")},
			NetworkPolicies: []networkingv1.NetworkPolicy{np},
		}
		ev := NewEvaluator(snap)
		for _, proto := range []model.Protocol{model.TCP, model.UDP, model.SCTP, model.ICMP} {
			for _, port := range []uint16{0, 80, 85} {
				for _, pair := range [][2]Peer{
					{PodPeer(&snap.Pods[1]), PodPeer(&snap.Pods[0])},
					{PodPeer(&snap.Pods[0]), PodPeer(&snap.Pods[1])},
					{IPPeer(netip.MustParseAddr("10.1.2.3")), PodPeer(&snap.Pods[0])},
				} {
					d := ev.Evaluate(pair[0], pair[1], proto, port)
					for _, v := range []Verdict{d.Egress, d.Ingress} {
						if !v.Isolated && !v.Allowed {
							t.Fatalf("%s denied without isolation: %+v", v.Direction, v)
						}
						if len(v.AllowedBy) > 0 && !v.Allowed {
							t.Fatalf("%s denied although rules allow: %+v", v.Direction, v)
						}
					}
				}
			}
		}
	})
}
