package iptables

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// TestDestinationIndexChangesNoOutcome walks packets through a long chain of the shapes
// kube-proxy writes (one rule per cluster IP, with repeats), mixed with rules on
// prefixes, negated and without a destination, once with the chain's index and once
// scanning every rule: the outcomes, traces and forks are the same.
func TestDestinationIndexChangesNoOutcome(t *testing.T) {
	var b strings.Builder
	b.WriteString("*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-A - [0:0]\n:KUBE-MARK - [0:0]\n")
	b.WriteString("-A PREROUTING -j KUBE-SERVICES\n")
	for i := range 200 {
		ip := fmt.Sprintf("10.96.0.%d", i%150)
		switch {
		case i%50 == 7:
			b.WriteString("-A KUBE-SERVICES -d 10.244.0.0/16 -j KUBE-MARK\n")
		case i%50 == 13:
			b.WriteString("-A KUBE-SERVICES ! -d 10.96.0.20/32 -p udp -j KUBE-MARK\n")
		case i%50 == 29:
			b.WriteString("-A KUBE-SERVICES -p tcp -m tcp --dport 9 -j KUBE-MARK\n")
		case i == 120:
			b.WriteString("-A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-A\n")
		default:
			fmt.Fprintf(&b, "-A KUBE-SERVICES -d %s/32 -p tcp -m tcp --dport %d -j RETURN\n", ip, 1000+i)
		}
	}
	b.WriteString("-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j RETURN\n")
	b.WriteString("-A KUBE-MARK -j MARK --set-xmark 0x4000/0x4000\n")
	b.WriteString("-A KUBE-SVC-A -m statistic --mode random --probability 0.5 -j DNAT --to-destination 10.244.1.5:8080\n")
	b.WriteString("-A KUBE-SVC-A -j DNAT --to-destination 10.244.2.5:8080\nCOMMIT\n")
	rs, err := Parse(b.String())
	if err != nil {
		t.Fatal(err)
	}
	chain := rs.Chain(TableNAT, "KUBE-SERVICES")
	if chain.dsts == nil {
		t.Fatalf("a chain of %d rules has no destination index", len(chain.Rules))
	}
	packets := []nf.Packet{
		tcpPkt("10.244.1.9", 40000, "10.96.0.20", 80),
		tcpPkt("10.244.1.9", 40000, "10.96.0.20", 1020),
		tcpPkt("10.244.1.9", 40000, "10.96.0.77", 1077),
		tcpPkt("10.244.1.9", 40000, "10.96.0.77", 9),
		tcpPkt("10.244.1.9", 40000, "10.244.3.3", 8080),
		udpPkt("10.244.1.9", 40000, "10.96.0.20", 53),
		udpPkt("10.244.1.9", 40000, "10.96.0.21", 53),
		tcpPkt("10.244.1.9", 40000, "172.18.0.2", 30080),
	}
	env := testEnv(t)
	env.ConntrackInUse = true
	describe := func(out []nf.Outcome) []string {
		var s []string
		for _, o := range out {
			s = append(s, fmt.Sprintf("%v %.2f %s mark=%#x forks=%d", o.Verdict, o.Probability, o.Packet.Model(), o.Packet.Mark, len(o.Forks)))
			s = append(s, o.TraceLines()...)
		}
		return s
	}
	for _, p := range packets {
		indexed := describe(rs.Traverse(nf.PreRouting, p, env))
		chain.dsts = nil
		scanned := describe(rs.Traverse(nf.PreRouting, p, env))
		chain.dsts = newDstIndex(chain.Rules)
		if diff := cmp.Diff(scanned, indexed); diff != "" {
			t.Errorf("packet %s: indexed walk differs from the scan (-scan +indexed):\n%s", p.Model(), diff)
		}
	}
}
