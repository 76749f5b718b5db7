package nftables

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netdiag/netdiag/internal/netstack/iptables/iptablestest"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// TestSCTPAsTheKernelLists loads SCTP rules with nft into a namespace, lists them back as
// JSON (what a collector reads) and evaluates SCTP packets through the listing. This kernel
// has no SCTP sockets, so no packet can check the answers, but nft keeps and lists the rules:
// `meta l4proto sctp th dport` comes back as `sctp dport`, as the kernel stores it.
func TestSCTPAsTheKernelLists(t *testing.T) {
	ns := iptablestest.Namespace(t, "ndt-nft-sctp", "nft")
	iptablestest.RunIn(t, ns, `table ip t {
	chain in {
		type filter hook input priority 0; policy accept;
		sctp dport 9000 drop
		sctp sport 5000-5100 drop
		meta l4proto sctp th dport 9001 drop
		meta l4proto sctp meta mark set 0x7
	}
}
`, "nft", "-f", "-")
	listed := iptablestest.RunIn(t, ns, "", "nft", "-j", "list", "ruleset")
	rs, err := Parse(listed)
	if err != nil {
		t.Fatalf("parse:\n%s\n%v", listed, err)
	}
	for name, c := range map[string]struct {
		pkt  nf.Packet
		want way
	}{
		"SCTP to the dropped port":           {pkt(nf.ProtoSCTP, "10.0.0.1", 40000, "10.0.0.2", 9000, "eth0"), way{nf.Drop, "SCTP 10.0.0.1:40000 -> 10.0.0.2:9000", "1.000", "0x0", ""}},
		"TCP to the same port is not":        {pkt(nf.ProtoTCP, "10.0.0.1", 40000, "10.0.0.2", 9000, "eth0"), way{nf.Accept, "TCP 10.0.0.1:40000 -> 10.0.0.2:9000", "1.000", "0x0", ""}},
		"SCTP from a dropped source port":    {pkt(nf.ProtoSCTP, "10.0.0.1", 5050, "10.0.0.2", 7000, "eth0"), way{nf.Drop, "SCTP 10.0.0.1:5050 -> 10.0.0.2:7000", "1.000", "0x0", ""}},
		"SCTP by l4proto and th dport":       {pkt(nf.ProtoSCTP, "10.0.0.1", 40000, "10.0.0.2", 9001, "eth0"), way{nf.Drop, "SCTP 10.0.0.1:40000 -> 10.0.0.2:9001", "1.000", "0x0", ""}},
		"any other SCTP packet is marked":    {pkt(nf.ProtoSCTP, "10.0.0.1", 40000, "10.0.0.2", 7000, "eth0"), way{nf.Accept, "SCTP 10.0.0.1:40000 -> 10.0.0.2:7000", "1.000", "0x7", ""}},
		"UDP is not matched by l4proto sctp": {pkt(nf.ProtoUDP, "10.0.0.1", 40000, "10.0.0.2", 7000, "eth0"), way{nf.Accept, "UDP 10.0.0.1:40000 -> 10.0.0.2:7000", "1.000", "0x0", ""}},
	} {
		t.Run(name, func(t *testing.T) {
			outs := rs.Traverse(nf.Input, c.pkt, nil, nil)
			if diff := cmp.Diff([]way{c.want}, ways(outs)); diff != "" {
				t.Errorf("(-want +got):\n%s\n%s\nlisted:\n%s", diff, traces(outs), listed)
			}
		})
	}
}
