package iptables

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// result is what a traversal test checks of an outcome.
type result struct {
	Verdict nf.Verdict
	Packet  string
	Mark    string
	NAT     []string
	Trace   []string
	Reject  string
	Share   string
	Note    string
}

func summarise(o nf.Outcome) result {
	r := result{Verdict: o.Verdict, Packet: o.Packet.Model().String(), Reject: o.RejectWith}
	if o.Packet.Mark != 0 || o.Packet.Conn.Mark != 0 {
		r.Mark = fmt.Sprintf("%#x/%#x", o.Packet.Mark, o.Packet.Conn.Mark)
	}
	for _, n := range o.NAT {
		r.NAT = append(r.NAT, fmt.Sprintf("%s %s->%s", n.Kind, n.Before, n.After))
	}
	for _, s := range o.Trace {
		if s.Rule == nil {
			r.Trace = append(r.Trace, s.Table+"/"+s.Chain+" "+s.Action)
		} else {
			r.Trace = append(r.Trace, fmt.Sprintf("%s/%s#%d %s", s.Table, s.Chain, s.Rule.(*Rule).Index, s.Action))
		}
	}
	if o.Probability != 1 {
		r.Share = fmt.Sprintf("%.3f", o.Probability)
	}
	if o.Verdict == nf.Unknown {
		r.Note = o.Note
	}
	return r
}

// traverse runs one hook and prints every outcome's trace when the test fails.
func traverse(t *testing.T, rs *Ruleset, hook nf.Hook, pkt nf.Packet, env *Env, want []result) {
	t.Helper()
	var got []result
	for _, o := range rs.Traverse(hook, pkt, env) {
		got = append(got, summarise(o))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		var b strings.Builder
		for i, o := range rs.Traverse(hook, pkt, env) {
			fmt.Fprintf(&b, "outcome %d: %s %s\n", i, o.Verdict, o.Packet.Model())
			for _, s := range o.Trace {
				fmt.Fprintf(&b, "  %s\n", s)
			}
		}
		t.Errorf("%s %s (-want +got):\n%s\ntrace:\n%s", hook, pkt.Model(), diff, b.String())
	}
}

func mustParse(t *testing.T, save string) *Ruleset {
	t.Helper()
	rs, err := Parse(save)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestTraverse(t *testing.T) {
	env := testEnv(t)
	cases := map[string]struct {
		save string
		hook nf.Hook
		pkt  nf.Packet
		want []result
	}{
		"policy DROP with nothing matching": {
			save: "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -s 10.0.0.0/8 -j ACCEPT\nCOMMIT\n",
			hook: nf.Forward, pkt: tcpPkt("192.168.1.1", 1, "10.0.0.1", 80),
			want: []result{{Verdict: nf.Drop, Packet: "TCP 192.168.1.1:1 -> 10.0.0.1:80", Trace: []string{"filter/FORWARD policy DROP"}}},
		},
		"jump, RETURN and fall through to ACCEPT": {
			save: `*filter
:INPUT DROP [0:0]
:CHECK - [0:0]
-A INPUT -j CHECK
-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT
-A CHECK -s 10.0.0.0/8 -j RETURN
-A CHECK -j DROP
COMMIT
`,
			hook: nf.Input, pkt: tcpPkt("10.1.1.1", 1, "172.18.0.2", 80),
			want: []result{{Verdict: nf.Accept, Packet: "TCP 10.1.1.1:1 -> 172.18.0.2:80",
				Trace: []string{"filter/INPUT#1 jump CHECK", "filter/CHECK#1 RETURN", "filter/INPUT#2 ACCEPT"}}},
		},
		"goto returns to the caller's caller": {
			save: `*filter
:INPUT ACCEPT [0:0]
:A - [0:0]
:B - [0:0]
-A INPUT -j A
-A INPUT -j DROP
-A A -g B
-A A -j ACCEPT
-A B -p udp -j ACCEPT
COMMIT
`,
			hook: nf.Input, pkt: tcpPkt("10.1.1.1", 1, "172.18.0.2", 80),
			want: []result{{Verdict: nf.Drop, Packet: "TCP 10.1.1.1:1 -> 172.18.0.2:80",
				Trace: []string{"filter/INPUT#1 jump A", "filter/A#1 goto B", "filter/INPUT#2 DROP"}}},
		},
		"goto from the base chain ends in its policy": {
			save: "*filter\n:INPUT DROP [0:0]\n:B - [0:0]\n-A INPUT -g B\n-A INPUT -j ACCEPT\nCOMMIT\n",
			hook: nf.Input, pkt: tcpPkt("10.1.1.1", 1, "172.18.0.2", 80),
			want: []result{{Verdict: nf.Drop, Packet: "TCP 10.1.1.1:1 -> 172.18.0.2:80",
				Trace: []string{"filter/INPUT#1 goto B", "filter/INPUT policy DROP"}}},
		},
		"REJECT with its type": {
			save: "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -j REJECT --reject-with tcp-reset\nCOMMIT\n",
			hook: nf.Input, pkt: tcpPkt("10.1.1.1", 1, "172.18.0.2", 80),
			want: []result{{Verdict: nf.Reject, Packet: "TCP 10.1.1.1:1 -> 172.18.0.2:80", Reject: "tcp-reset", Trace: []string{"filter/INPUT#1 REJECT"}}},
		},
		"LOG and counting rules go on": {
			save: "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j LOG --log-prefix \"in: \"\n-A INPUT -p tcp\n-A INPUT -j NFLOG --nflog-group 2\nCOMMIT\n",
			hook: nf.Input, pkt: tcpPkt("10.1.1.1", 1, "172.18.0.2", 80),
			want: []result{{Verdict: nf.Accept, Packet: "TCP 10.1.1.1:1 -> 172.18.0.2:80",
				Trace: []string{"filter/INPUT#1 LOG", "filter/INPUT#2 continue", "filter/INPUT#3 NFLOG", "filter/INPUT policy ACCEPT"}}},
		},
		"tables in hook order, mark set in mangle read in filter": {
			save: `*filter
:FORWARD DROP [0:0]
-A FORWARD -m mark --mark 0x1/0x1 -j ACCEPT
COMMIT
*mangle
:FORWARD ACCEPT [0:0]
-A FORWARD -j MARK --set-xmark 0x1/0x1
COMMIT
`,
			hook: nf.Forward, pkt: tcpPkt("10.1.1.1", 1, "10.2.2.2", 80),
			want: []result{{Verdict: nf.Accept, Packet: "TCP 10.1.1.1:1 -> 10.2.2.2:80", Mark: "0x1/0x0",
				Trace: []string{"mangle/FORWARD#1 MARK", "mangle/FORWARD policy ACCEPT", "filter/FORWARD#1 ACCEPT"}}},
		},
		"ACCEPT in raw does not skip filter": {
			save: "*raw\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -j ACCEPT\nCOMMIT\n*filter\n:OUTPUT DROP [0:0]\nCOMMIT\n",
			hook: nf.Output, pkt: tcpPkt("172.18.0.2", 1, "10.2.2.2", 80),
			want: []result{{Verdict: nf.Drop, Packet: "TCP 172.18.0.2:1 -> 10.2.2.2:80", Trace: []string{"raw/OUTPUT#1 ACCEPT", "filter/OUTPUT policy DROP"}}},
		},
		"mark operations": {
			save: `*mangle
:PREROUTING ACCEPT [0:0]
-A PREROUTING -j MARK --set-mark 0xf0
-A PREROUTING -j MARK --or-mark 0x1
-A PREROUTING -j MARK --and-mark 0xff
-A PREROUTING -j MARK --xor-mark 0x3
-A PREROUTING -j CONNMARK --save-mark --nfmask 0xff --ctmask 0xff
-A PREROUTING -j MARK --set-xmark 0x0/0xffffffff
-A PREROUTING -j CONNMARK --restore-mark --nfmask 0xf --ctmask 0xf
COMMIT
`,
			hook: nf.PreRouting, pkt: with(tcpPkt("10.1.1.1", 1, "10.2.2.2", 80), func(p *nf.Packet) { p.Mark = 0xab00 }),
			// 0xab00 -> set 0xf0 (mask all) -> |1 = 0xf1 -> &0xff = 0xf1 -> ^3 = 0xf2; ct = 0xf2;
			// mark 0 -> restore low nibble of ct: 0x2.
			want: []result{{Verdict: nf.Accept, Packet: "TCP 10.1.1.1:1 -> 10.2.2.2:80", Mark: "0x2/0xf2",
				Trace: []string{"mangle/PREROUTING#1 MARK", "mangle/PREROUTING#2 MARK", "mangle/PREROUTING#3 MARK", "mangle/PREROUTING#4 MARK",
					"mangle/PREROUTING#5 CONNMARK", "mangle/PREROUTING#6 MARK", "mangle/PREROUTING#7 CONNMARK", "mangle/PREROUTING policy ACCEPT"}}},
		},
		"DNAT ends the nat table and rewrites": {
			save: "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.11:8080\n-A PREROUTING -j DNAT --to-destination 1.1.1.1\nCOMMIT\n",
			hook: nf.PreRouting, pkt: tcpPkt("10.1.1.1", 1, "10.96.0.10", 80),
			want: []result{{Verdict: nf.Accept, Packet: "TCP 10.1.1.1:1 -> 10.244.1.11:8080", NAT: []string{"DNAT 10.96.0.10:80->10.244.1.11:8080"},
				Trace: []string{"nat/PREROUTING#1 DNAT"}}},
		},
		"DNAT to an address only keeps the port; a range takes the first": {
			save: "*nat\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -j DNAT --to-destination 10.0.0.5-10.0.0.9\nCOMMIT\n",
			hook: nf.Output, pkt: tcpPkt("172.18.0.2", 1, "10.96.0.10", 80),
			want: []result{{Verdict: nf.Accept, Packet: "TCP 172.18.0.2:1 -> 10.0.0.5:80", NAT: []string{"DNAT 10.96.0.10:80->10.0.0.5:80"},
				Trace: []string{"nat/OUTPUT#1 DNAT"}}},
		},
		"nat is skipped for an established packet": {
			save: "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j DNAT --to-destination 10.0.0.5\nCOMMIT\n",
			hook: nf.PreRouting, pkt: tcpPkt("10.0.0.5", 80, "10.1.1.1", 1).Reply().Reply(),
			want: []result{{Verdict: nf.Accept, Packet: "TCP 10.0.0.5:80 -> 10.1.1.1:1"}},
		},
		"MASQUERADE takes the out interface's address": {
			save: "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o eth0 -j MASQUERADE --random-fully\nCOMMIT\n",
			hook: nf.PostRouting, pkt: with(tcpPkt("10.244.1.11", 40000, "8.8.8.8", 53), func(p *nf.Packet) { p.Out = "eth0" }),
			want: []result{{Verdict: nf.Accept, Packet: "TCP 172.18.0.2:40000 -> 8.8.8.8:53", NAT: []string{"MASQUERADE 10.244.1.11:40000->172.18.0.2:40000"},
				Trace: []string{"nat/POSTROUTING#1 MASQUERADE"}}},
		},
		"SNAT with a port": {
			save: "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -p udp -j SNAT --to-source 192.0.2.1:5000-5100\nCOMMIT\n",
			hook: nf.PostRouting, pkt: udpPkt("10.244.1.11", 40000, "8.8.8.8", 53),
			want: []result{{Verdict: nf.Accept, Packet: "UDP 192.0.2.1:5000 -> 8.8.8.8:53", NAT: []string{"SNAT 10.244.1.11:40000->192.0.2.1:5000"},
				Trace: []string{"nat/POSTROUTING#1 SNAT"}}},
		},
		"REDIRECT to the input interface's address": {
			save: "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -j REDIRECT --to-ports 15001\nCOMMIT\n",
			hook: nf.PreRouting, pkt: with(tcpPkt("10.244.1.11", 40000, "8.8.8.8", 80), func(p *nf.Packet) { p.In = "cni0" }),
			want: []result{{Verdict: nf.Accept, Packet: "TCP 10.244.1.11:40000 -> 10.244.1.1:15001", NAT: []string{"REDIRECT 8.8.8.8:80->10.244.1.1:15001"},
				Trace: []string{"nat/PREROUTING#1 REDIRECT"}}},
		},
		"statistic forks, one outcome per branch": {
			save: `*nat
:OUTPUT ACCEPT [0:0]
:SVC - [0:0]
-A OUTPUT -j SVC
-A SVC -m statistic --mode random --probability 0.25 -j DNAT --to-destination 10.0.0.1
-A SVC -m statistic --mode nth --every 3 --packet 0 -j DNAT --to-destination 10.0.0.2
-A SVC -j DNAT --to-destination 10.0.0.3
COMMIT
`,
			hook: nf.Output, pkt: tcpPkt("172.18.0.2", 1, "10.96.0.1", 80),
			want: []result{
				{Verdict: nf.Accept, Packet: "TCP 172.18.0.2:1 -> 10.0.0.1:80", NAT: []string{"DNAT 10.96.0.1:80->10.0.0.1:80"}, Share: "0.250",
					Trace: []string{"nat/OUTPUT#1 jump SVC", "nat/SVC#1 DNAT"}},
				{Verdict: nf.Accept, Packet: "TCP 172.18.0.2:1 -> 10.0.0.2:80", NAT: []string{"DNAT 10.96.0.1:80->10.0.0.2:80"}, Share: "0.250",
					Trace: []string{"nat/OUTPUT#1 jump SVC", "nat/SVC#2 DNAT"}},
				{Verdict: nf.Accept, Packet: "TCP 172.18.0.2:1 -> 10.0.0.3:80", NAT: []string{"DNAT 10.96.0.1:80->10.0.0.3:80"}, Share: "0.500",
					Trace: []string{"nat/OUTPUT#1 jump SVC", "nat/SVC#3 DNAT"}},
			},
		},
		"unknown match deciding a DROP is Unknown": {
			save: "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m owner --uid-owner 0 -j DROP\n-A INPUT -j ACCEPT\nCOMMIT\n",
			hook: nf.Input, pkt: tcpPkt("10.1.1.1", 1, "172.18.0.2", 80),
			want: []result{{Verdict: nf.Unknown, Packet: "TCP 10.1.1.1:1 -> 172.18.0.2:80",
				Note: "a match of this rule is not understood: -m owner --uid-owner 0 (module owner)"}},
		},
		"unknown match on a rule that misses anyway": {
			save: "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p udp -m owner --uid-owner 0 -j DROP\nCOMMIT\n",
			hook: nf.Input, pkt: tcpPkt("10.1.1.1", 1, "172.18.0.2", 80),
			want: []result{{Verdict: nf.Accept, Packet: "TCP 10.1.1.1:1 -> 172.18.0.2:80", Trace: []string{"filter/INPUT policy ACCEPT"}}},
		},
		"unknown match on a LOG rule does not decide": {
			save: "*filter\n:INPUT DROP [0:0]\n-A INPUT -m owner --uid-owner 0 -j LOG\nCOMMIT\n",
			hook: nf.Input, pkt: tcpPkt("10.1.1.1", 1, "172.18.0.2", 80),
			want: []result{{Verdict: nf.Drop, Packet: "TCP 10.1.1.1:1 -> 172.18.0.2:80", Trace: []string{"filter/INPUT policy DROP"}}},
		},
		"unknown target is Unknown": {
			save: "*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -j TPROXY --on-port 1\nCOMMIT\n",
			hook: nf.PreRouting, pkt: tcpPkt("10.1.1.1", 1, "172.18.0.2", 80),
			want: []result{{Verdict: nf.Unknown, Packet: "TCP 10.1.1.1:1 -> 172.18.0.2:80", Trace: []string{"mangle/PREROUTING#1 TPROXY"},
				Note: "the target is not understood: -j TPROXY --on-port 1 (target TPROXY)"}},
		},
		"NOTRACK skips nat": {
			save: "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j CT --notrack\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j DNAT --to-destination 10.0.0.5\nCOMMIT\n",
			hook: nf.PreRouting, pkt: tcpPkt("10.1.1.1", 1, "172.18.0.2", 80),
			want: []result{{Verdict: nf.Accept, Packet: "TCP 10.1.1.1:1 -> 172.18.0.2:80", Trace: []string{"raw/PREROUTING#1 CT", "raw/PREROUTING policy ACCEPT"}}},
		},
		"a loop of gotos is bounded": {
			save: "*filter\n:INPUT ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-A A -g B\n-A B -g A\nCOMMIT\n",
			hook: nf.Input, pkt: tcpPkt("10.1.1.1", 1, "172.18.0.2", 80),
		},
		"missing tables accept": {
			save: "*filter\n:INPUT DROP [0:0]\nCOMMIT\n",
			hook: nf.PostRouting, pkt: tcpPkt("10.1.1.1", 1, "172.18.0.2", 80),
			want: []result{{Verdict: nf.Accept, Packet: "TCP 10.1.1.1:1 -> 172.18.0.2:80"}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rs := mustParse(t, tc.save)
			if name == "a loop of gotos is bounded" {
				small := *env
				small.MaxSteps = 1000
				out := rs.Traverse(tc.hook, tc.pkt, &small)
				if len(out) != 1 || out[0].Verdict != nf.Unknown || !strings.Contains(out[0].Note, "step budget") {
					t.Fatalf("got %+v, want one Unknown outcome for the step budget", out)
				}
				return
			}
			traverse(t, rs, tc.hook, tc.pkt, env, tc.want)
		})
	}
}

func TestJumpDepthBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n")
	for i := range 100 {
		fmt.Fprintf(&b, ":C%d - [0:0]\n", i)
	}
	b.WriteString("-A INPUT -j C0\n")
	for i := range 99 {
		fmt.Fprintf(&b, "-A C%d -j C%d\n", i, i+1)
	}
	rs := mustParse(t, b.String())
	out := rs.Traverse(nf.Input, tcpPkt("10.1.1.1", 1, "172.18.0.2", 80), nil)
	if len(out) != 1 || out[0].Verdict != nf.Unknown || !strings.Contains(out[0].Note, "deeper than 64") {
		t.Fatalf("got %+v, want Unknown for the jump depth", out)
	}
	_ = netip.Addr{}
}
