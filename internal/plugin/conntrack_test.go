package plugin

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netdiag/netdiag/internal/model"
)

func tcp(src, dst string) model.Packet {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	return model.Packet{Protocol: model.TCP, Src: s.Addr(), SrcPort: s.Port(), Dst: d.Addr(), DstPort: d.Port()}
}

// TestConntrackUndo checks that a reply gets the addresses back that the forward packet's
// NAT changed at a NetNode, and only there.
func TestConntrackUndo(t *testing.T) {
	cases := map[string]struct {
		in, out          model.Packet // the forward packet as it entered and left the node
		reply            model.Packet // the reply as it arrives
		wantDst, wantSrc model.Packet
	}{
		"masquerade: the reply is addressed back to the pod": {
			in: tcp("10.244.0.10:40000", "1.1.1.1:443"), out: tcp("172.18.1.2:40000", "1.1.1.1:443"),
			reply:   tcp("1.1.1.1:443", "172.18.1.2:40000"),
			wantDst: tcp("1.1.1.1:443", "10.244.0.10:40000"), wantSrc: tcp("1.1.1.1:443", "10.244.0.10:40000"),
		},
		"service DNAT: the reply leaves from the cluster IP": {
			in: tcp("10.244.0.10:40000", "10.96.0.10:80"), out: tcp("10.244.0.10:40000", "10.244.1.10:8080"),
			reply:   tcp("10.244.1.10:8080", "10.244.0.10:40000"),
			wantDst: tcp("10.244.1.10:8080", "10.244.0.10:40000"), wantSrc: tcp("10.96.0.10:80", "10.244.0.10:40000"),
		},
		"DNAT and masquerade at one node": {
			in: tcp("198.51.100.7:40000", "172.18.1.2:30080"), out: tcp("172.18.1.2:40000", "10.244.1.10:8080"),
			reply:   tcp("10.244.1.10:8080", "172.18.1.2:40000"),
			wantDst: tcp("10.244.1.10:8080", "198.51.100.7:40000"), wantSrc: tcp("172.18.1.2:30080", "198.51.100.7:40000"),
		},
		"another connection's reply is left alone": {
			in: tcp("10.244.0.10:40000", "10.96.0.10:80"), out: tcp("10.244.0.10:40000", "10.244.1.10:8080"),
			reply:   tcp("10.244.1.11:8080", "10.244.0.10:40000"),
			wantDst: tcp("10.244.1.11:8080", "10.244.0.10:40000"), wantSrc: tcp("10.244.1.11:8080", "10.244.0.10:40000"),
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e := &Env{}
			e.track("node/a", c.in, c.out)
			e.track("node/b", c.out, c.out) // no NAT there: nothing recorded
			gotDst := e.undoDst("node/a", c.reply)
			if diff := cmp.Diff(c.wantDst.String(), gotDst.String()); diff != "" {
				t.Errorf("undoDst (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.wantSrc.String(), e.undoSrc("node/a", gotDst).String()); diff != "" {
				t.Errorf("undoSrc (-want +got):\n%s", diff)
			}
			if got := e.undoDst("node/b", c.reply); got != c.reply {
				t.Errorf("a node without NAT changed the reply to %s", got)
			}
		})
	}
}
