package kindnet

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin"
)

// gatewayCheck checks what a pod sends to its node: the frame reaches the host end of the
// veth only if something there answers the pod's ARP for its next hop. ptp's gateway lives
// only as the /32 on the host ends of the pod veths, and a node that lost it from all of
// them (or whose veth ignores ARP for addresses of other interfaces) leaves the pod's
// packets unsent, although the pod's own routes look right.
type gatewayCheck struct {
	plugin *Plugin
	pod    *corev1.Pod
}

// check reports false when nothing answers and the branch ended.
func (g gatewayCheck) check(h *plugin.Hop, t *plugin.Transmission) bool {
	host := g.plugin.env.NodeStack(g.pod.Spec.NodeName)
	if h.Stack == nil || host == nil || host.PartError("links") != nil ||
		t.Link.Type != model.LinkVeth || t.To.Type != model.NetNodeNode || !t.NextHop.IsValid() {
		return true
	}
	nh, dev := t.NextHop, t.Link.FromInterface
	if nb := h.Neighbour(dev, nh); nb != nil && nb.Usable() {
		return true
	}
	veth := host.InterfaceByName(t.Link.ToInterface)
	if veth == nil || host.AnswersARP(veth.Name, nh) {
		return true
	}
	gw := nh
	if node := g.plugin.env.Cluster.Node(g.pod.Spec.NodeName); node != nil && len(podCIDRs(node)) > 0 {
		gw = Gateway(podCIDRs(node)[0])
	}
	h.Suspectf(model.Critical, model.ReasonNeighbourMissing, dev, "",
		"Pod %s/%s sends %s via %s on %s, but no interface of %s that answers ARP on %s, the host end of its veth, holds %s: the pod's ARP for its next hop fails and nothing it sends leaves it (ptp puts the gateway %s/32 on the host end of every pod veth: ip addr add %s/32 dev %s on %s)",
		g.pod.Namespace, g.pod.Name, h.Packet, nh, dev, g.pod.Spec.NodeName, veth.Name, nh, gw, gw, veth.Name, g.pod.Spec.NodeName)
	h.Stop(plugin.Dropped, "nothing on "+g.pod.Spec.NodeName+" answers ARP for "+nh.String())
	return false
}
