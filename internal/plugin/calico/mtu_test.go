package calico_test

import (
	"testing"

	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin/calico"
	"github.com/netdiag/netdiag/internal/plugin/calico/calicotest"
	"github.com/netdiag/netdiag/internal/plugin/plugintest"
)

// Calico sets the MTU of a pod's host veth itself. A host end lower than the pod's eth0
// drops the pod's own large packets as they leave it, whatever the way beyond: every MTU on
// the way counts, both ends of each veth.
func TestHostVethBelowThePodsMTU(t *testing.T) {
	lower := func(c *fixture.Cluster) { veth(c, "node-0", "default", "client").MTU = 1000 }
	for _, mode := range modes {
		t.Run(mode+"/connections still open, and the mismatch is named", func(t *testing.T) {
			res := plugintest.Run(t, calico.Name, twoNodes(mode), flow{Fault: lower, Want: diagnose.Reachable, Reasons: []model.Reason{model.ReasonMTUMismatch}})
			assertMismatchAt(t, res, "node-0", calicotest.VethName("default", "client"))
		})
		t.Run(mode+"/large packets are the verdict's reason", func(t *testing.T) {
			runFlow(t, mode, flow{
				Src: "pod:default/client", Dst: "pod:default/db", Proto: model.ICMP, Size: 1200, Fault: lower,
				Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonPacketTooBig, model.ReasonMTUMismatch},
			})
		})
		t.Run(mode+"/small packets pass", func(t *testing.T) {
			runFlow(t, mode, flow{
				Src: "pod:default/client", Dst: "pod:default/db", Proto: model.ICMP, Size: 900, Fault: lower,
				Want: diagnose.Reachable, Reasons: []model.Reason{model.ReasonMTUMismatch},
			})
		})
	}
}

func assertMismatchAt(t *testing.T, res *diagnose.Result, node, iface string) {
	t.Helper()
	for _, s := range res.Suspicions {
		if s.Reason == model.ReasonMTUMismatch && s.Node == node && s.Interface == iface {
			return
		}
	}
	t.Errorf("no MTUMismatch on %s/%s: %+v", node, iface, res.Suspicions)
}
