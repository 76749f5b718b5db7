package iptables

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// nodeA is the node the kube-proxy fixture was recorded on: eth0 172.18.0.2/24 and a pod
// bridge cni0 10.244.1.1/24 with the node's pods.
func nodeA(t *testing.T) (*Ruleset, *Env) {
	t.Helper()
	text, err := os.ReadFile("testdata/kube-proxy.iptables")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Parse(string(text))
	if err != nil {
		t.Fatal(err)
	}
	env, err := EnvFromNetstack(&netstack.Netstack{Interfaces: []netstack.Interface{
		{Name: "lo", Kind: "loopback", Addresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
		{Name: "eth0", Kind: "veth", Addresses: []netip.Prefix{netip.MustParsePrefix("172.18.0.2/24")}},
		{Name: "cni0", Kind: "bridge", Addresses: []netip.Prefix{netip.MustParsePrefix("10.244.1.1/24")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return rs, env
}

// endpoint is what a kube-proxy test checks of one way through a node.
type endpoint struct {
	Verdict nf.Verdict
	Packet  string
	Share   string
	Masq    bool
	Decider string
}

func endpoints(outs []nf.Outcome) []endpoint {
	var got []endpoint
	for _, o := range outs {
		e := endpoint{Verdict: o.Verdict, Packet: o.Packet.Model().String(), Share: fmt.Sprintf("%.3f", o.Probability), Masq: o.Packet.Mark&0x4000 != 0}
		// The rule that decided where the packet goes: the NAT rule, else the verdict's.
		switch {
		case len(o.NAT) > 0:
			e.Decider = place(o.NAT[0].Rule)
		case o.Decider != nil:
			e.Decider = place(o.Decider)
		}
		got = append(got, e)
	}
	slices.SortFunc(got, func(a, b endpoint) int { return strings.Compare(a.Packet, b.Packet) })
	return got
}

func TestKubeProxyFixture(t *testing.T) {
	rs, env := nodeA(t)
	fromPod := func(p nf.Packet) nf.Packet { p.In = "cni0"; return p }
	fromOutside := func(p nf.Packet) nf.Packet { p.In = "eth0"; return p }
	cases := map[string]struct {
		hook nf.Hook
		pkt  nf.Packet
		want []endpoint
	}{
		"ClusterIP from a pod: one DNAT per endpoint, no masquerade": {
			hook: nf.PreRouting, pkt: fromPod(tcpPkt("10.244.1.20", 40000, "10.96.0.10", 80)),
			want: []endpoint{
				{nf.Accept, "TCP 10.244.1.20:40000 -> 10.244.1.11:8080", "0.333", false, "nat/KUBE-SEP-EPVTA2RHFPHQF37H"},
				{nf.Accept, "TCP 10.244.1.20:40000 -> 10.244.1.12:8080", "0.333", false, "nat/KUBE-SEP-A4XDIGXZ2YDXHROU"},
				{nf.Accept, "TCP 10.244.1.20:40000 -> 10.244.2.13:8080", "0.333", false, "nat/KUBE-SEP-D3V65IDS3FFDYZQI"},
			},
		},
		"ClusterIP second port maps to its own target port": {
			hook: nf.PreRouting, pkt: fromPod(tcpPkt("10.244.1.20", 40000, "10.96.0.10", 443)),
			want: []endpoint{
				{nf.Accept, "TCP 10.244.1.20:40000 -> 10.244.1.11:8443", "0.333", false, "nat/KUBE-SEP-UXOM45YG6ZZGVXXV"},
				{nf.Accept, "TCP 10.244.1.20:40000 -> 10.244.1.12:8443", "0.333", false, "nat/KUBE-SEP-JGJJFZ3GL6QVKJUL"},
				{nf.Accept, "TCP 10.244.1.20:40000 -> 10.244.2.13:8443", "0.333", false, "nat/KUBE-SEP-ZTBX6X3MD537UHWS"},
			},
		},
		"ClusterIP from the node itself is marked for masquerade": {
			hook: nf.Output, pkt: tcpPkt("172.18.0.2", 40000, "10.96.0.53", 53),
			want: []endpoint{
				{nf.Accept, "TCP 172.18.0.2:40000 -> 10.244.1.31:5353", "0.500", true, "nat/KUBE-SEP-6UQCM7VSIKTHFYKP"},
				{nf.Accept, "TCP 172.18.0.2:40000 -> 10.244.2.32:5353", "0.500", true, "nat/KUBE-SEP-TP5ZYDOLBWZYOX6N"},
			},
		},
		"UDP ClusterIP": {
			hook: nf.PreRouting, pkt: fromPod(udpPkt("10.244.1.20", 40000, "10.96.0.53", 53)),
			want: []endpoint{
				{nf.Accept, "UDP 10.244.1.20:40000 -> 10.244.1.31:5353", "0.500", false, "nat/KUBE-SEP-NPFPHTQ23UGUQB6I"},
				{nf.Accept, "UDP 10.244.1.20:40000 -> 10.244.2.32:5353", "0.500", false, "nat/KUBE-SEP-2LZMFVGBRHYLVKMH"},
			},
		},
		"hairpin: an endpoint reaching its own service is marked": {
			hook: nf.PreRouting, pkt: fromPod(tcpPkt("10.244.1.11", 40000, "10.96.0.18", 80)),
			want: []endpoint{{nf.Accept, "TCP 10.244.1.11:40000 -> 10.244.1.12:8080", "1.000", false, "nat/KUBE-SEP-XMXXTWUZIINJRKHH"}},
		},
		"NodePort from outside: masquerade mark, one DNAT per endpoint": {
			hook: nf.PreRouting, pkt: fromOutside(tcpPkt("192.0.2.50", 40000, "172.18.0.2", 30080)),
			want: []endpoint{
				{nf.Accept, "TCP 192.0.2.50:40000 -> 10.244.1.11:8080", "0.500", true, "nat/KUBE-SEP-27JMOCYB73AZ6APN"},
				{nf.Accept, "TCP 192.0.2.50:40000 -> 10.244.2.13:8080", "0.500", true, "nat/KUBE-SEP-KVXGIRTZSSWKMSEZ"},
			},
		},
		"NodePort on another node's address is not a NodePort here": {
			hook: nf.PreRouting, pkt: fromOutside(tcpPkt("192.0.2.50", 40000, "172.18.0.3", 30080)),
			want: []endpoint{{nf.Accept, "TCP 192.0.2.50:40000 -> 172.18.0.3:30080", "1.000", false, ""}},
		},
		"LoadBalancer with externalTrafficPolicy Local keeps the source, local endpoint only": {
			hook: nf.PreRouting, pkt: fromOutside(tcpPkt("198.51.100.7", 40000, "203.0.113.10", 80)),
			want: []endpoint{{nf.Accept, "TCP 198.51.100.7:40000 -> 10.244.1.11:8080", "1.000", false, "nat/KUBE-SEP-P3CVDX23OOMSLJXM"}},
		},
		"external IP from outside is masqueraded": {
			hook: nf.PreRouting, pkt: fromOutside(tcpPkt("198.51.100.7", 40000, "192.0.2.10", 80)),
			want: []endpoint{{nf.Accept, "TCP 198.51.100.7:40000 -> 10.244.1.12:8080", "1.000", true, "nat/KUBE-SEP-XMXXTWUZIINJRKHH"}},
		},
		"session affinity: a first packet may go to either endpoint": {
			hook: nf.PreRouting, pkt: fromPod(tcpPkt("10.244.1.20", 40000, "10.96.0.15", 80)),
			want: []endpoint{
				{nf.Accept, "TCP 10.244.1.20:40000 -> 10.244.1.12:8080", "0.500", false, "nat/KUBE-SEP-WN47FVLI6AWFSPAG"},
				{nf.Accept, "TCP 10.244.1.20:40000 -> 10.244.2.13:8080", "0.500", false, "nat/KUBE-SEP-YAFQTTHKQOPZPZ42"},
			},
		},
		"a service without endpoints is rejected in FORWARD": {
			hook: nf.Forward, pkt: with(tcpPkt("10.244.1.20", 40000, "10.96.0.11", 80), func(p *nf.Packet) { p.In, p.Out = "cni0", "eth0" }),
			want: []endpoint{{nf.Reject, "TCP 10.244.1.20:40000 -> 10.96.0.11:80", "1.000", false, "filter/KUBE-SERVICES"}},
		},
		"a service without endpoints is rejected in OUTPUT": {
			hook: nf.Output, pkt: tcpPkt("172.18.0.2", 40000, "10.96.0.11", 80),
			want: []endpoint{{nf.Reject, "TCP 172.18.0.2:40000 -> 10.96.0.11:80", "1.000", false, "filter/KUBE-SERVICES"}},
		},
		"marked traffic is accepted in FORWARD": {
			hook: nf.Forward, pkt: with(tcpPkt("192.0.2.50", 40000, "10.244.2.13", 8080), func(p *nf.Packet) { p.Mark = 0x4000; p.Conn.Status |= nf.StatusDNAT }),
			want: []endpoint{{nf.Accept, "TCP 192.0.2.50:40000 -> 10.244.2.13:8080", "1.000", true, "filter/KUBE-FORWARD"}},
		},
		"a reply is accepted by the conntrack rule": {
			hook: nf.Forward, pkt: tcpPkt("192.0.2.50", 40000, "10.244.2.13", 8080).Reply(),
			want: []endpoint{{nf.Accept, "TCP 10.244.2.13:8080 -> 192.0.2.50:40000", "1.000", false, "filter/KUBE-FORWARD"}},
		},
		"remote access to localhost is dropped": {
			hook: nf.Input, pkt: fromOutside(tcpPkt("192.0.2.50", 40000, "127.0.0.1", 10249)),
			want: []endpoint{{nf.Drop, "TCP 192.0.2.50:40000 -> 127.0.0.1:10249", "1.000", false, "filter/KUBE-FIREWALL"}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			outs := rs.Traverse(tc.hook, tc.pkt, env)
			if diff := cmp.Diff(tc.want, endpoints(outs)); diff != "" {
				t.Errorf("%s %s (-want +got):\n%s\n%s", tc.hook, tc.pkt.Model(), diff, traces(outs))
			}
		})
	}
}

func traces(outs []nf.Outcome) string {
	var b strings.Builder
	for i, o := range outs {
		fmt.Fprintf(&b, "outcome %d: %s %s %s\n", i, o.Verdict, o.Packet.Model(), o.Note)
		for _, s := range o.Trace {
			fmt.Fprintf(&b, "  %s\n", s)
		}
	}
	return b.String()
}

// TestKubeProxyNodePortThroughTheNode follows a NodePort packet from outside through every
// hook of the node, as the engine does: PREROUTING (DNAT), FORWARD, POSTROUTING
// (MASQUERADE to the address of the interface towards the endpoint's node).
func TestKubeProxyNodePortThroughTheNode(t *testing.T) {
	rs, env := nodeA(t)
	pkt := tcpPkt("192.0.2.50", 40000, "172.18.0.2", 30080)
	pkt.In = "eth0"
	type way struct {
		Endpoint string
		Final    string
		NAT      []string
	}
	var got []way
	for _, pre := range rs.Traverse(nf.PreRouting, pkt, env) {
		p := pre.Packet
		// The route to the endpoint: a local pod by cni0, a remote one by eth0 via node-b.
		if netip.MustParsePrefix("10.244.1.0/24").Contains(p.Dst) {
			p.Out = "cni0"
		} else {
			p.Out, p.NextHop = "eth0", addr("172.18.0.3")
		}
		for _, fwd := range rs.Traverse(nf.Forward, p, env) {
			if fwd.Verdict != nf.Accept {
				t.Fatalf("FORWARD %s: %s\n%s", p.Model(), fwd.Verdict, traces([]nf.Outcome{fwd}))
			}
			for _, post := range rs.Traverse(nf.PostRouting, fwd.Packet, env) {
				w := way{Endpoint: p.Dst.String(), Final: post.Packet.Model().String()}
				for _, o := range []nf.Outcome{pre, post} {
					for _, n := range o.NAT {
						w.NAT = append(w.NAT, fmt.Sprintf("%s %s->%s", n.Kind, n.Before, n.After))
					}
				}
				got = append(got, w)
			}
		}
	}
	want := []way{
		{"10.244.1.11", "TCP 10.244.1.1:40000 -> 10.244.1.11:8080", []string{"DNAT 172.18.0.2:30080->10.244.1.11:8080", "MASQUERADE 192.0.2.50:40000->10.244.1.1:40000"}},
		{"10.244.2.13", "TCP 172.18.0.2:40000 -> 10.244.2.13:8080", []string{"DNAT 172.18.0.2:30080->10.244.2.13:8080", "MASQUERADE 192.0.2.50:40000->172.18.0.2:40000"}},
	}
	slices.SortFunc(got, func(a, b way) int { return strings.Compare(a.Endpoint, b.Endpoint) })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NodePort through node-a (-want +got):\n%s", diff)
	}
}

func TestKubeProxyFixtureHasNoUnknownTerms(t *testing.T) {
	rs, _ := nodeA(t)
	rs.AllRules(func(r *Rule) {
		for _, m := range r.Matches {
			if u, ok := m.(*UnknownMatch); ok {
				t.Errorf("%s/%s: %s not understood (%s)", r.Table, r.Chain, u.String(), u.Reason)
			}
		}
		if u, ok := r.Target.(*UnknownTarget); ok {
			t.Errorf("%s/%s: %s not understood (%s)", r.Table, r.Chain, u.String(), u.Reason)
		}
	})
}

// TestKubeProxyReply follows a pod's connection to a ClusterIP on a node, then its reply
// back: conntrack undoes the DNAT at POSTROUTING, so the client sees the ClusterIP answer.
func TestKubeProxyReply(t *testing.T) {
	rs, env := nodeA(t)
	pkt := tcpPkt("10.244.1.20", 40000, "10.96.0.18", 80)
	pkt.In = "cni0"
	pre := rs.Traverse(nf.PreRouting, pkt, env)
	if len(pre) != 1 {
		t.Fatalf("%d ways, want 1 (one endpoint)", len(pre))
	}
	fwd := pre[0].Packet
	fwd.Out = "cni0"
	post := rs.Traverse(nf.PostRouting, rs.Traverse(nf.Forward, fwd, env)[0].Packet, env)
	sent := post[0].Packet
	if got, want := sent.Model().String(), "TCP 10.244.1.20:40000 -> 10.244.1.12:8080"; got != want {
		t.Fatalf("to the endpoint: %s, want %s", got, want)
	}
	reply := sent.Reply()
	reply.In, reply.Out = "cni0", "cni0"
	var got []string
	for _, h := range []nf.Hook{nf.PreRouting, nf.Forward, nf.PostRouting} {
		outs := rs.Traverse(h, reply, env)
		if len(outs) != 1 || outs[0].Verdict != nf.Accept {
			t.Fatalf("reply at %s: %s", h, traces(outs))
		}
		reply = outs[0].Packet
		for _, n := range outs[0].NAT {
			got = append(got, fmt.Sprintf("%s %s: %s->%s", h, n.Kind, n.Before, n.After))
		}
	}
	if diff := cmp.Diff([]string{"POSTROUTING un-DNAT: 10.244.1.12:8080->10.96.0.18:80"}, got); diff != "" {
		t.Errorf("NAT on the reply (-want +got):\n%s", diff)
	}
	if got, want := reply.Model().String(), "TCP 10.96.0.18:80 -> 10.244.1.20:40000"; got != want {
		t.Errorf("reply leaves as %s, want %s", got, want)
	}
}

func place(r nf.Rule) string {
	table, chain := r.Place()
	return table + "/" + chain
}
