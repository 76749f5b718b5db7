package nf

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// rule is a rule of a ruleset under test.
type rule struct{ table, chain, text string }

func (r rule) Ruleset() string              { return IPTables }
func (r rule) Place() (table, chain string) { return r.table, r.chain }
func (r rule) String() string               { return r.text }

func TestDeciding(t *testing.T) {
	drop := rule{"filter", "FORWARD", "-A FORWARD -j DROP"}
	dnat := rule{"nat", "KUBE-SEP-X", "-A KUBE-SEP-X -p tcp -j DNAT --to-destination 10.244.1.5:8080"}
	odd := rule{"filter", "INPUT", "-A INPUT -m bpf --bytecode 1 -j DROP"}
	type want struct{ Text, Chain string }
	cases := map[string]struct {
		o    Outcome
		want want
	}{
		"a rule drops": {Outcome{Verdict: Drop, Decider: drop}, want{drop.text, "filter/FORWARD"}},
		"an accepting rule is not named": {
			Outcome{Verdict: Accept, Decider: drop}, want{}},
		"a policy drops": {
			Outcome{Verdict: Drop, Trace: []Step{{Ruleset: NFTables, Table: "t", Chain: "fwd", Action: "policy drop"}}},
			want{"nftables t/fwd: policy drop", "t/fwd"}},
		"the rule not understood beats the decider": {
			Outcome{Verdict: Unknown, Decider: drop, Undecided: odd}, want{odd.text, "filter/INPUT"}},
		"an unknown without a rule gives its note": {
			Outcome{Verdict: Unknown, Note: "more than 4096 ways"}, want{"more than 4096 ways", ""}},
		"an accepted rewrite names its rule": {
			Outcome{Verdict: Accept, NAT: []NAT{{Kind: "DNAT", Rule: dnat}, {Kind: "un-SNAT"}}}, want{dnat.text, ""}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var got want
			got.Text, got.Chain = tc.o.Deciding()
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("Deciding (-want +got):\n%s", d)
			}
		})
	}
}

func TestTraceLines(t *testing.T) {
	jump := rule{"nat", "PREROUTING", "-A PREROUTING -j KUBE-SERVICES"}
	o := Outcome{
		Trace: []Step{
			{Ruleset: IPTables, Table: "nat", Chain: "PREROUTING", Rule: jump, Action: "jump KUBE-SERVICES"},
			{Ruleset: IPTables, Table: "nat", Chain: "KUBE-SERVICES", Rule: jump, Action: "continue"},
			{Ruleset: IPTables, Table: "nat", Chain: "PREROUTING", Action: "policy ACCEPT"},
		},
		NAT:       []NAT{{Kind: "DNAT", Before: netip.MustParseAddrPort("10.96.0.1:80"), After: netip.MustParseAddrPort("10.244.1.5:8080")}},
		Uncertain: []Rule{rule{"filter", "INPUT", "-A INPUT -m bpf --bytecode 1"}},
	}
	want := []string{
		"iptables nat/PREROUTING: -A PREROUTING -j KUBE-SERVICES => jump KUBE-SERVICES",
		"iptables nat/PREROUTING: policy ACCEPT",
		"DNAT 10.96.0.1:80 -> 10.244.1.5:8080",
	}
	if d := cmp.Diff(want, o.TraceLines()); d != "" {
		t.Errorf("TraceLines (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"-A INPUT -m bpf --bytecode 1"}, o.NotUnderstood()); d != "" {
		t.Errorf("NotUnderstood (-want +got):\n%s", d)
	}
}

func TestUnNAT(t *testing.T) {
	client, svc, pod := netip.MustParseAddrPort("10.244.0.10:40000"), netip.MustParseAddrPort("10.96.0.1:80"), netip.MustParseAddrPort("10.244.1.5:8080")
	fwd := Packet{Src: client.Addr(), SrcPort: client.Port(), Dst: pod.Addr(), DstPort: pod.Port(), Proto: ProtoTCP,
		Conn: Conn{Status: StatusDNAT, OrigSrc: client, OrigDst: svc}}
	reply := fwd.Reply()
	var o Outcome
	if !UnNAT(PreRouting, &reply, &o) || len(o.NAT) != 0 {
		t.Fatalf("PREROUTING leaves a DNAT's reply as it is: %v", o.NAT)
	}
	if !UnNAT(PostRouting, &reply, &o) {
		t.Fatal("the reply is not seen as one")
	}
	if got := netip.AddrPortFrom(reply.Src, reply.SrcPort); got != svc {
		t.Errorf("reply source after POSTROUTING: got %s, want the service %s", got, svc)
	}
	if len(o.NAT) != 1 || o.NAT[0].Kind != "un-DNAT" || o.Reversals() != "un-DNAT 10.244.1.5:8080 -> 10.96.0.1:80" {
		t.Errorf("reversal recorded as %v", o.NAT)
	}
	if UnNAT(PostRouting, &fwd, &o) {
		t.Error("a forward packet is taken for a reply")
	}
}
