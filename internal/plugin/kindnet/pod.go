package kindnet

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin"
)

// Pod is kindnet's SimplePluginNode for a pod: everything goes to the pod's gateway on
// eth0, the first address of its node's pod CIDR, which ptp puts on the host end of the
// veth so that the node answers the pod's ARP for it.
type Pod struct {
	plugin.VethPod
	plugin *Plugin
}

var _ plugin.SimplePluginNode = (*Pod)(nil)

// toNode is the pod's intent for anything but itself, once its gateway is checked.
func (p *Pod) toNode(h *plugin.Hop) *plugin.Intent {
	node := p.plugin.env.Cluster.Node(p.Pod.Spec.NodeName)
	if node == nil || len(podCIDRs(node)) == 0 {
		return nil
	}
	gw := Gateway(podCIDRs(node)[0])
	p.checkGateway(h, gw)
	return gatewayIntent(p.Pod, "eth0", gw)
}

// ToPod sends to the node, or delivers locally to itself.
func (p *Pod) ToPod(h *plugin.Hop, pod *corev1.Pod) (*plugin.Intent, error) {
	if pod.Namespace == p.Pod.Namespace && pod.Name == p.Pod.Name {
		return p.VethPod.ToPod(h, pod)
	}
	return p.toNode(h), nil
}

func (p *Pod) ToHost(h *plugin.Hop, _ *corev1.Node) (*plugin.Intent, error) { return p.toNode(h), nil }
func (p *Pod) ToService(h *plugin.Hop, _ *corev1.Service) (*plugin.Intent, error) {
	return p.toNode(h), nil
}
func (p *Pod) ToExternal(h *plugin.Hop) (*plugin.Intent, error) { return p.toNode(h), nil }

// checkGateway reports a pod whose next hop nothing on its node answers ARP for: ptp's
// gateway lives only as the /32 on the host ends of the pod veths, and a node that lost it
// from all of them (or whose veth ignores ARP for addresses of other interfaces) leaves the
// pod's packets unsent, although the pod's own routes look right.
func (p *Pod) checkGateway(h *plugin.Hop, gw netip.Addr) {
	host := p.plugin.env.NodeStack(p.Pod.Spec.NodeName)
	if h.Stack == nil || host == nil || host.PartError("links") != nil {
		return
	}
	r := h.Stack.LookupRoute(netstack.RouteQuery{Dst: h.Packet.Dst})
	if !r.Routed() || r.Type != netstack.RouteUnicast || !r.Gateway.IsValid() {
		return
	}
	nh, dev := r.Gateway, r.Device
	if nb := h.Neighbour(dev, nh); nb != nil && nb.Usable() {
		return
	}
	podIf := h.Interface(dev)
	if podIf == nil || podIf.Veth == nil {
		return
	}
	veth := host.InterfaceByIndex(podIf.Veth.PeerIndex)
	if veth == nil || answersARP(host, veth, nh) {
		return
	}
	h.Suspectf(model.Critical, model.ReasonNeighbourMissing, dev, "",
		"Pod %s/%s sends %s via %s on %s, but no interface of %s that answers ARP on %s, the host end of its veth, holds %s: the pod's ARP for its gateway fails and nothing it sends leaves it (ptp puts %s/32 on the host end of every pod veth: ip addr add %s/32 dev %s on %s)",
		p.Pod.Namespace, p.Pod.Name, h.Packet, nh, dev, p.Pod.Spec.NodeName, veth.Name, nh, gw, gw, veth.Name, p.Pod.Spec.NodeName)
}

// answersARP reports whether the kernel answers ARP for addr on veth: it holds addr, or, with
// arp_ignore 0 (the default), any interface of the namespace does; proxy ARP answers for all.
func answersARP(host *netstack.Netstack, veth *netstack.Interface, addr netip.Addr) bool {
	for _, a := range veth.Addresses {
		if a.Addr() == addr {
			return true
		}
	}
	if host.IPv4Conf("all", "proxy_arp") != 0 || host.IPv4Conf(veth.Name, "proxy_arp") != 0 {
		return true
	}
	ignore := max(host.IPv4Conf("all", "arp_ignore"), host.IPv4Conf(veth.Name, "arp_ignore"))
	return ignore == 0 && host.InterfaceWithAddr(addr) != nil
}
