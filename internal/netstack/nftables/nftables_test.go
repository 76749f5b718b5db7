package nftables

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/iptables"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// nodeA is the node the fixture was recorded on (as in the iptables package's tests).
func nodeA(t *testing.T) (*Ruleset, *iptables.Env) {
	t.Helper()
	b, err := os.ReadFile("../iptables/testdata/kube-proxy.nft.json")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Parse(string(b))
	if err != nil {
		t.Fatal(err)
	}
	env, err := iptables.EnvFromNetstack(&netstack.Netstack{Interfaces: []netstack.Interface{
		{Name: "lo", Kind: "loopback", Addresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
		{Name: "eth0", Kind: "veth", Addresses: []netip.Prefix{netip.MustParsePrefix("172.18.0.2/24")}},
		{Name: "cni0", Kind: "bridge", Addresses: []netip.Prefix{netip.MustParsePrefix("10.244.1.1/24")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return rs, env
}

func pkt(proto uint8, src string, sport uint16, dst string, dport uint16, in string) nf.Packet {
	p := nf.Packet{Src: addr(src), Dst: addr(dst), Proto: proto, SrcPort: sport, DstPort: dport, In: in}
	if proto == nf.ProtoTCP {
		p.TCPFlags = nf.TCPSyn
	}
	return p
}

type way struct {
	Verdict nf.Verdict
	Packet  string
	Share   string
	Mark    string
	Note    string
}

func ways(outs []nf.Outcome) []way {
	var got []way
	for _, o := range outs {
		w := way{Verdict: o.Verdict, Packet: o.Packet.Model().String(), Share: fmt.Sprintf("%.3f", o.Probability), Mark: fmt.Sprintf("%#x", o.Packet.Mark)}
		if o.Verdict == nf.Unknown || o.Verdict == nf.Reject {
			w.Note = o.Note + o.RejectWith
		}
		got = append(got, w)
	}
	slices.SortFunc(got, func(a, b way) int { return strings.Compare(a.Packet, b.Packet) })
	return got
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

func TestKubeProxyNFTables(t *testing.T) {
	rs, env := nodeA(t)
	tcp, udp := nf.ProtoTCP, nf.ProtoUDP
	cases := map[string]struct {
		hook nf.Hook
		pkt  nf.Packet
		want []way
	}{
		"ClusterIP from a pod: numgen map, one outcome per endpoint": {
			hook: nf.PreRouting, pkt: pkt(tcp, "10.244.1.20", 40000, "10.96.0.10", 80, "cni0"),
			want: []way{
				{nf.Accept, "TCP 10.244.1.20:40000 -> 10.244.1.11:8080", "0.333", "0x0", ""},
				{nf.Accept, "TCP 10.244.1.20:40000 -> 10.244.1.12:8080", "0.333", "0x0", ""},
				{nf.Accept, "TCP 10.244.1.20:40000 -> 10.244.2.13:8080", "0.333", "0x0", ""},
			},
		},
		"ClusterIP from outside the pod network is marked for masquerade": {
			hook: nf.PreRouting, pkt: pkt(udp, "172.18.0.9", 40000, "10.96.0.53", 53, "eth0"),
			want: []way{
				{nf.Accept, "UDP 172.18.0.9:40000 -> 10.244.1.31:5353", "0.500", "0x4000", ""},
				{nf.Accept, "UDP 172.18.0.9:40000 -> 10.244.2.32:5353", "0.500", "0x4000", ""},
			},
		},
		"NodePort from outside": {
			hook: nf.PreRouting, pkt: pkt(tcp, "192.0.2.50", 40000, "172.18.0.2", 30080, "eth0"),
			want: []way{
				{nf.Accept, "TCP 192.0.2.50:40000 -> 10.244.1.11:8080", "0.500", "0x4000", ""},
				{nf.Accept, "TCP 192.0.2.50:40000 -> 10.244.2.13:8080", "0.500", "0x4000", ""},
			},
		},
		"LoadBalancer with externalTrafficPolicy Local: the local endpoint, source kept": {
			hook: nf.PreRouting, pkt: pkt(tcp, "198.51.100.7", 40000, "203.0.113.10", 80, "eth0"),
			want: []way{{nf.Accept, "TCP 198.51.100.7:40000 -> 10.244.1.11:8080", "1.000", "0x0", ""}},
		},
		"session affinity, first packet": {
			hook: nf.PreRouting, pkt: pkt(tcp, "10.244.1.20", 40000, "10.96.0.15", 80, "cni0"),
			want: []way{
				{nf.Accept, "TCP 10.244.1.20:40000 -> 10.244.1.12:8080", "0.500", "0x0", ""},
				{nf.Accept, "TCP 10.244.1.20:40000 -> 10.244.2.13:8080", "0.500", "0x0", ""},
			},
		},
		"a service without endpoints is rejected": {
			hook: nf.Forward, pkt: pkt(tcp, "10.244.1.20", 40000, "10.96.0.11", 80, "cni0"),
			want: []way{{nf.Reject, "TCP 10.244.1.20:40000 -> 10.96.0.11:80", "1.000", "0x0", "port-unreachable"}},
		},
		"a ClusterIP on a port it does not serve is rejected": {
			hook: nf.Output, pkt: pkt(tcp, "172.18.0.2", 40000, "10.96.0.10", 81, ""),
			// The node's own traffic to a ClusterIP is marked for masquerade on the way.
			want: []way{{nf.Reject, "TCP 172.18.0.2:40000 -> 10.96.0.10:81", "1.000", "0x4000", "port-unreachable"}},
		},
		"an unallocated ClusterIP is dropped": {
			hook: nf.Forward, pkt: pkt(tcp, "10.244.1.20", 40000, "10.96.7.7", 80, "cni0"),
			want: []way{{nf.Drop, "TCP 10.244.1.20:40000 -> 10.96.7.7:80", "1.000", "0x0", ""}},
		},
		"remote access to localhost is not understood (an iptables-nft xt match)": {
			hook: nf.Input, pkt: pkt(tcp, "192.0.2.50", 40000, "127.0.0.1", 10249, "eth0"),
			want: []way{{nf.Unknown, "TCP 192.0.2.50:40000 -> 127.0.0.1:10249", "1.000", "0x0", "statement xt is not understood"}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			outs := rs.Traverse(tc.hook, tc.pkt, env, nil)
			if diff := cmp.Diff(tc.want, ways(outs)); diff != "" {
				t.Errorf("%s %s (-want +got):\n%s\n%s", tc.hook, tc.pkt.Model(), diff, traces(outs))
			}
		})
	}
}

// TestNodePortThroughTheNode follows a NodePort packet through prerouting, forward and
// postrouting, where the masquerade mark makes kube-proxy's chain masquerade it and clear
// the mark.
func TestNodePortThroughTheNode(t *testing.T) {
	rs, env := nodeA(t)
	var got []string
	for _, pre := range rs.Traverse(nf.PreRouting, pkt(nf.ProtoTCP, "192.0.2.50", 40000, "172.18.0.2", 30080, "eth0"), env, nil) {
		p := pre.Packet
		if netip.MustParsePrefix("10.244.1.0/24").Contains(p.Dst) {
			p.Out = "cni0"
		} else {
			p.Out, p.NextHop = "eth0", addr("172.18.0.3")
		}
		for _, fwd := range rs.Traverse(nf.Forward, p, env, nil) {
			for _, post := range rs.Traverse(nf.PostRouting, fwd.Packet, env, nil) {
				got = append(got, fmt.Sprintf("%s %s mark %#x", post.Verdict, post.Packet.Model(), post.Packet.Mark))
			}
		}
	}
	slices.Sort(got)
	want := []string{
		"Accept TCP 10.244.1.1:40000 -> 10.244.1.11:8080 mark 0x0",
		"Accept TCP 172.18.0.2:40000 -> 10.244.2.13:8080 mark 0x0",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSkipIPTablesNFT(t *testing.T) {
	rs, env := nodeA(t)
	// Without the iptables-nft tables (evaluated from iptables-save instead), the packet
	// to localhost meets only kube-proxy's table.
	outs := rs.Traverse(nf.Input, pkt(nf.ProtoTCP, "192.0.2.50", 40000, "127.0.0.1", 10249, "eth0"), env, IPTablesNFT)
	if len(outs) != 1 || outs[0].Verdict != nf.Accept {
		t.Fatalf("got %s", traces(outs))
	}
}

func TestEvaluation(t *testing.T) {
	// Hand-written rules for what kube-proxy's table does not show: inet family, policy
	// drop, return, anonymous sets, ranges, interface wildcards, ct mark, snat.
	const ruleset = `{"nftables": [
{"table": {"family": "inet", "name": "t"}},
{"chain": {"family": "inet", "table": "t", "name": "in", "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
{"chain": {"family": "inet", "table": "t", "name": "check"}},
{"chain": {"family": "inet", "table": "t", "name": "post", "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}},
{"rule": {"family": "inet", "table": "t", "chain": "in", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "lo"}}, {"accept": null}]}},
{"rule": {"family": "inet", "table": "t", "chain": "in", "expr": [{"jump": {"target": "check"}}]}},
{"rule": {"family": "inet", "table": "t", "chain": "in", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "mark"}}, "right": 7}}, {"accept": null}]}},
{"rule": {"family": "inet", "table": "t", "chain": "check", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [22, {"range": [8000, 8080]}]}}}, {"mangle": {"key": {"meta": {"key": "mark"}}, "value": 7}}]}},
{"rule": {"family": "inet", "table": "t", "chain": "check", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "veth*"}}, {"return": null}]}},
{"rule": {"family": "inet", "table": "t", "chain": "check", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "10.0.0.0", "len": 8}}}}, {"mangle": {"key": {"meta": {"key": "mark"}}, "value": 7}}]}},
{"rule": {"family": "inet", "table": "t", "chain": "post", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "eth0"}}, {"snat": {"addr": "192.0.2.1", "port": 5000}}]}}
]}`
	rs, err := Parse(ruleset)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		hook nf.Hook
		pkt  nf.Packet
		want way
	}{
		"loopback accepted":           {nf.Input, pkt(nf.ProtoTCP, "1.1.1.1", 1, "2.2.2.2", 9, "lo"), way{nf.Accept, "TCP 1.1.1.1:1 -> 2.2.2.2:9", "1.000", "0x0", ""}},
		"port in the anonymous set":   {nf.Input, pkt(nf.ProtoTCP, "1.1.1.1", 1, "2.2.2.2", 22, "eth0"), way{nf.Accept, "TCP 1.1.1.1:1 -> 2.2.2.2:22", "1.000", "0x7", ""}},
		"port in the range":           {nf.Input, pkt(nf.ProtoTCP, "1.1.1.1", 1, "2.2.2.2", 8042, "eth0"), way{nf.Accept, "TCP 1.1.1.1:1 -> 2.2.2.2:8042", "1.000", "0x7", ""}},
		"udp has no tcp header":       {nf.Input, pkt(nf.ProtoUDP, "1.1.1.1", 1, "2.2.2.2", 22, "eth0"), way{nf.Drop, "UDP 1.1.1.1:1 -> 2.2.2.2:22", "1.000", "0x0", ""}},
		"wildcard interface returns":  {nf.Input, pkt(nf.ProtoUDP, "10.1.1.1", 1, "2.2.2.2", 22, "veth3"), way{nf.Drop, "UDP 10.1.1.1:1 -> 2.2.2.2:22", "1.000", "0x0", ""}},
		"prefix marks, then accepted": {nf.Input, pkt(nf.ProtoUDP, "10.1.1.1", 1, "2.2.2.2", 22, "eth0"), way{nf.Accept, "UDP 10.1.1.1:1 -> 2.2.2.2:22", "1.000", "0x7", ""}},
		"snat with a port": {nf.PostRouting, func() nf.Packet {
			p := pkt(nf.ProtoUDP, "10.1.1.1", 1, "2.2.2.2", 22, "")
			p.Out = "eth0"
			return p
		}(), way{nf.Accept, "UDP 192.0.2.1:5000 -> 2.2.2.2:22", "1.000", "0x0", ""}},
		"snat not on another interface": {nf.PostRouting, func() nf.Packet {
			p := pkt(nf.ProtoUDP, "10.1.1.1", 1, "2.2.2.2", 22, "")
			p.Out = "eth1"
			return p
		}(), way{nf.Accept, "UDP 10.1.1.1:1 -> 2.2.2.2:22", "1.000", "0x0", ""}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			outs := rs.Traverse(tc.hook, tc.pkt, nil, nil)
			if diff := cmp.Diff([]way{tc.want}, ways(outs)); diff != "" {
				t.Errorf("(-want +got):\n%s\n%s", diff, traces(outs))
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("../iptables/testdata/kube-proxy.nft.json"); err == nil {
		f.Add(string(b))
	}
	f.Add(`{"nftables": [{"chain": {"family": "ip", "table": "t", "name": "c", "hook": "input", "prio": 0}}, {"rule": {"family": "ip", "table": "t", "chain": "c", "expr": [{"vmap": {"key": {"numgen": {"mode": "random", "mod": 3}}, "data": {"set": [[0, {"jump": {"target": "c"}}]]}}}]}}]}`)
	f.Fuzz(func(t *testing.T, text string) {
		rs, err := Parse(text)
		if err != nil {
			return
		}
		env := &iptables.Env{MaxSteps: 10_000, MaxOutcomes: 64}
		for _, h := range []nf.Hook{nf.PreRouting, nf.Input, nf.Forward, nf.Output, nf.PostRouting} {
			for _, o := range rs.Traverse(h, pkt(nf.ProtoTCP, "10.244.1.20", 40000, "10.96.0.10", 80, "eth0"), env, nil) {
				if o.Verdict == "" {
					t.Fatal("outcome without a verdict")
				}
			}
		}
	})
}

func TestReplyUndoesNAT(t *testing.T) {
	rs, env := nodeA(t)
	pre := rs.Traverse(nf.PreRouting, pkt(nf.ProtoTCP, "10.244.1.20", 40000, "10.96.0.18", 80, "cni0"), env, nil)
	if len(pre) != 1 {
		t.Fatalf("got %s", traces(pre))
	}
	p := pre[0].Packet
	p.Out = "cni0"
	sent := rs.Traverse(nf.PostRouting, rs.Traverse(nf.Forward, p, env, nil)[0].Packet, env, nil)[0].Packet
	reply := sent.Reply()
	reply.In, reply.Out = "cni0", "cni0"
	for _, h := range []nf.Hook{nf.PreRouting, nf.Forward, nf.PostRouting} {
		outs := rs.Traverse(h, reply, env, nil)
		if len(outs) != 1 || outs[0].Verdict != nf.Accept {
			t.Fatalf("reply at %s: %s", h, traces(outs))
		}
		reply = outs[0].Packet
	}
	if got, want := reply.Model().String(), "TCP 10.96.0.18:80 -> 10.244.1.20:40000"; got != want {
		t.Errorf("reply leaves as %s, want %s", got, want)
	}
}

// TestNotUnderstoodAtParse checks that an expression the evaluator does not know is found
// when the ruleset is parsed, named on its rule, and that a packet reaching the rule is
// Unknown where the rule could decide: never accepted or dropped as if the rule matched or
// missed. A known miss among the rule's other matches still misses, and a rule that could
// only count is passed and noted.
func TestNotUnderstoodAtParse(t *testing.T) {
	const ruleset = `{"nftables": [
{"table": {"family": "inet", "name": "t"}},
{"chain": {"family": "inet", "table": "t", "name": "in", "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
{"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 2, "expr": [{"match": {"op": "==", "left": {"osf": {"key": "name"}}, "right": "Linux"}}, {"counter": null}]}},
{"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 3, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "cgroup"}}, "right": 7}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"drop": null}]}},
{"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 4, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}}, {"queue": {"num": 1}}]}},
{"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 5, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "@missing"}}, {"accept": null}]}}
]}`
	rs, err := Parse(ruleset)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]string{}
	for _, r := range rs.NotUnderstood() {
		got[r.Handle] = r.NotUnderstood
	}
	want := map[int]string{
		2: "expression osf is not understood",
		3: "meta cgroup",
		4: "statement queue is not understood",
		5: "set @missing is not in the ruleset",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("rules not understood at parse (-want +got):\n%s", d)
	}
	type result struct {
		Verdict   nf.Verdict
		Undecided int
		Note      string
		Uncertain []int
	}
	handle := func(r nf.Rule) int {
		if r == nil {
			return 0
		}
		return r.(*Rule).Handle
	}
	cases := map[string]struct {
		dport uint16
		want  result
	}{
		// Rule 2 only counts: passed and noted. Rule 3 may drop port 22: Unknown.
		"an unknown term where the rule could drop": {22, result{nf.Unknown, 3, "meta cgroup", []int{2}}},
		// Rule 3's port match misses for 80; rule 4 queues port 80, which is not understood.
		"a known miss beats the unknown term; an unknown statement decides": {80, result{nf.Unknown, 4, "statement queue is not understood", []int{2}}},
		// Port 443 reaches rule 5, whose set is missing: it could accept, so Unknown.
		"a missing set": {443, result{nf.Unknown, 5, "set @missing is not in the ruleset", []int{2}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			outs := rs.Traverse(nf.Input, pkt(nf.ProtoTCP, "192.0.2.1", 40000, "192.0.2.2", tc.dport, "eth0"), nil, nil)
			if len(outs) != 1 {
				t.Fatalf("%d outcomes:\n%s", len(outs), traces(outs))
			}
			o := outs[0]
			res := result{Verdict: o.Verdict, Undecided: handle(o.Undecided), Note: o.Note}
			for _, r := range o.Uncertain {
				res.Uncertain = append(res.Uncertain, handle(r))
			}
			if d := cmp.Diff(tc.want, res); d != "" {
				t.Errorf("(-want +got):\n%s\n%s", d, traces(outs))
			}
		})
	}
}
