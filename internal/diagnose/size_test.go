package diagnose

import (
	"testing"

	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
)

// Questions about packets of a size, "small requests work, large ones hang", on flannel
// vxlan: pods and flannel.1 have MTU 1450, the underlay 1500.
func TestPacketSizes(t *testing.T) {
	icmp, tcp := model.ICMP, model.TCP
	toDB := func(f flow) flow {
		f.src, f.dst = "pod:default/client", "pod:default/db"
		if f.proto == tcp {
			f.port = 5432
		}
		return f
	}
	dbMTU1000 := func(c *fixture.Cluster) { fixture.Interface(c.PodStack("default", "db"), "eth0").MTU = 1000 }
	tunnel1200 := func(c *fixture.Cluster) { fixture.Interface(c.Host("node-0"), "flannel.1").MTU = 1200 }
	cases := map[string]flow{
		"the largest packet the pods' MTU allows gets through": {
			proto: icmp, size: 1450, df: true, want: Reachable,
		},
		"a packet larger than the sender's own MTU, with DF, never leaves it": {
			proto: icmp, size: 1451, df: true, want: Unreachable, reasons: []model.Reason{model.ReasonPacketTooBig},
		},
		"a destination pod's lowered MTU drops large packets at its veth, DF or not": {
			proto: icmp, size: 1400, fault: dbMTU1000,
			want: Unreachable, reasons: []model.Reason{model.ReasonPacketTooBig, model.ReasonMTUMismatch},
		},
		"small packets still pass the lowered MTU": {
			proto: icmp, size: 900, fault: dbMTU1000,
			want: Reachable, reasons: []model.Reason{model.ReasonMTUMismatch},
		},
		"a tunnel with a lower MTU drops packets with DF": {
			proto: icmp, size: 1400, df: true, fault: tunnel1200,
			want: Unreachable, reasons: []model.Reason{model.ReasonPacketTooBig},
		},
		"a tunnel with a lower MTU fragments packets without DF": {
			proto: icmp, size: 1400, fault: tunnel1200,
			want: Reachable, reasons: []model.Reason{model.ReasonMTUMismatch},
		},
		// The destination advertises the MSS of its own MTU: its lowered MTU shrinks every
		// segment, and nothing on the way is too small for them.
		"TCP's full-size segments follow the destination's lower MTU": {
			proto: tcp, size: 65535, fault: dbMTU1000,
			want: Reachable, reasons: []model.Reason{model.ReasonMTUMismatch},
		},
		"TCP's full-size segments do not fit a tunnel below both ends' MTU": {
			proto: tcp, size: 65535, fault: tunnel1200,
			want: Unreachable, reasons: []model.Reason{model.ReasonPacketTooBig},
		},
		"TCP segments capped below the tunnel's MTU get through": {
			proto: tcp, size: 1200, fault: tunnel1200,
			want: Reachable, reasons: []model.Reason{model.ReasonMTUMismatch},
		},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) { runFlow(t, flanneltest.VXLAN, toDB(f)) })
	}
}

// The Info a fragmenting hop leaves says where the packet was split, so a user whose
// firewall drops fragments knows where to look.
func TestPacketSizeFragmentsAreNamed(t *testing.T) {
	c := twoNodes(flanneltest.VXLAN)
	fixture.Interface(c.Host("node-0"), "flannel.1").MTU = 1200
	res := runFlowOn(t, c, flow{src: "pod:default/client", dst: "pod:default/db", proto: model.ICMP, size: 1400,
		want: Reachable, reasons: []model.Reason{model.ReasonMTUMismatch}})
	for _, s := range res.Suspicions {
		if s.Reason == model.ReasonPacketTooBig {
			if s.Level != model.Info || s.Node != "node-0" || s.Interface != "flannel.1" {
				t.Errorf("fragmentation noted as %s on %s/%s, want Info on node-0/flannel.1", s.Level, s.Node, s.Interface)
			}
			return
		}
	}
	t.Errorf("no PacketTooBig Info names where the packet was fragmented: %+v", res.Suspicions)
}
