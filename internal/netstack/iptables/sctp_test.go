package iptables

import (
	"net/netip"
	"testing"

	"github.com/netdiag/netdiag/internal/netstack/iptables/iptablestest"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// TestSCTPAsTheKernelSaves loads SCTP rules into a namespace, reads them back with
// iptables-save and evaluates SCTP packets through the saved rules. This kernel has no SCTP
// sockets, so no packet can check the answers, but iptables-nft keeps and saves the rules,
// and what it saves is what a collector reads.
func TestSCTPAsTheKernelSaves(t *testing.T) {
	ns := iptablestest.Namespace(t, "ndt-ipt-sctp", "iptables-save")
	iptablestest.RunIn(t, ns, `*filter
:INPUT ACCEPT [0:0]
-A INPUT -p sctp -m sctp --dport 9000 -j DROP
-A INPUT -p sctp -m sctp --sport 5000:5100 -j DROP
-A INPUT -p sctp -m sctp ! --dport 9001:9010 -j MARK --set-mark 0x7
COMMIT
`, "iptables-restore")
	saved := iptablestest.RunIn(t, ns, "", "iptables-save", "-t", "filter")
	rs, err := Parse(saved)
	if err != nil {
		t.Fatalf("parse:\n%s\n%v", saved, err)
	}
	if nu := rs.NotUnderstood(); len(nu) > 0 {
		t.Fatalf("rules not understood: %v\n%s", nu[0].Text, saved)
	}
	for name, c := range map[string]struct {
		proto        uint8
		sport, dport uint16
		verdict      nf.Verdict
		mark         uint32
	}{
		"SCTP to the dropped port":        {nf.ProtoSCTP, 40000, 9000, nf.Drop, 0},
		"TCP to the same port is not":     {nf.ProtoTCP, 40000, 9000, nf.Accept, 0},
		"SCTP from a dropped source port": {nf.ProtoSCTP, 5050, 7000, nf.Drop, 0},
		"SCTP outside the negated range":  {nf.ProtoSCTP, 40000, 7000, nf.Accept, 7},
		"SCTP inside the negated range":   {nf.ProtoSCTP, 40000, 9005, nf.Accept, 0},
	} {
		t.Run(name, func(t *testing.T) {
			p := nf.Packet{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: c.proto, SrcPort: c.sport, DstPort: c.dport, In: "eth0"}
			outs := rs.TraverseTables(nf.Input, p, &Env{}, TableFilter)
			if len(outs) != 1 || outs[0].Verdict != c.verdict || outs[0].Packet.Mark != c.mark {
				t.Errorf("outcomes %+v, want one %s with mark %#x\nsaved:\n%s", outs, c.verdict, c.mark, saved)
			}
		})
	}
}
