package calico

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin"
)

// Node is calico's SimplePluginNode for a node.
type Node struct {
	plugin.NodeDefaults
	plugin *Plugin
	node   *corev1.Node
	// checked avoids repeating the node-wide checks for every packet.
	checked bool
}

var _ plugin.SimplePluginNode = (*Node)(nil)

// ToPod: a local pod by its cali veth, a remote one to its node as the mode routes it.
func (n *Node) ToPod(h *plugin.Hop, pod *corev1.Pod) (*plugin.Intent, error) {
	n.nodeChecks(h)
	return plugin.PodIntent(h, pod,
		func() *plugin.Intent {
			dev := VethName(n.plugin.cfg.InterfacePrefix, pod.Namespace, pod.Name)
			return &plugin.Intent{Next: plugin.PodNetNode(pod.Namespace, pod.Name, pod.Spec.NodeName), Device: dev, Why: "calico routes a local pod's /32 to its veth " + dev}
		},
		func(other *corev1.Node) *plugin.Intent {
			in, mode := n.toPeer(h, other)
			n.checkBlockRoute(h, other, in, mode)
			n.checkPodMTU(h, mode)
			return in
		})
}

// toPeer is the route calico installs on this node for a peer's blocks.
func (n *Node) toPeer(h *plugin.Hop, other *corev1.Node) (*plugin.Intent, string) {
	mode := n.peerMode(h, other)
	in := &plugin.Intent{Next: plugin.NodeNetNode(other.Name), Why: "calico " + mode + " route to " + other.Name + "'s block"}
	switch mode {
	case ModeVXLAN:
		in.Device = n.plugin.cfg.VXLANDevice
		in.Gateway, _ = n.plugin.vtepAddress(other)
	case ModeIPIP:
		in.Device = DefaultIPIPDevice
		if t := ipipDevice(h.Stack); t != nil {
			in.Device = t.Name
		}
		in.Gateway, _ = nodeAddress(other)
	default:
		if u := h.Underlay(); u != nil {
			in.Device = u.Name
		}
		in.Gateway, _ = nodeAddress(other)
	}
	return in, mode
}

// peerMode is how this node reaches other: the node's mode, except that a CrossSubnet pool
// routes directly to peers on the same subnet.
func (n *Node) peerMode(h *plugin.Hop, other *corev1.Node) string {
	mode, cross := n.plugin.Mode(n.node, h.Stack)
	if !cross || mode == ModeRouted {
		return mode
	}
	peer, ok := nodeAddress(other)
	if !ok {
		return mode
	}
	if u := h.Underlay(); u != nil {
		for _, p := range u.Addresses {
			if p.Masked().Contains(peer) {
				return ModeRouted
			}
		}
	}
	return mode
}

// checkBlockRoute reports a peer block without a route here: BIRD (routed, ipip) or felix
// (vxlan) installs one per block, and without it the packet follows the default route out of
// the cluster. An aggregate route through the right gateway is as good.
func (n *Node) checkBlockRoute(h *plugin.Hop, other *corev1.Node, in *plugin.Intent, mode string) {
	if h.Stack == nil {
		return
	}
	block, ok := blockOf(other, h.Env.NodeStack(other.Name), h.Packet.Dst)
	if !ok {
		return
	}
	for _, r := range h.Stack.Routes {
		if r.Table == netstack.TableMain && r.Dst.Masked() == block && (r.Type == "" || r.Type == netstack.RouteUnicast) {
			return
		}
	}
	r := h.Stack.LookupRoute(netstack.RouteQuery{Dst: h.Packet.Dst})
	if r.Routed() && in.Gateway.IsValid() && r.Gateway == in.Gateway {
		return
	}
	who := "BIRD did not learn it from " + other.Name + " (check the BGP session: calicoctl node status)"
	if mode == ModeVXLAN {
		who = "felix did not program it (is calico-node running on " + n.node.Name + "?)"
	}
	h.Suspectf(model.Critical, model.ReasonRouteMissing, in.Device, "",
		"%s has no route for %s's block %s (calico %s: %s via %s dev %s): %s",
		n.node.Name, other.Name, block, mode, block, in.Gateway, in.Device, who)
}

// ToService is reached when no rule translated the service's address on this node.
func (n *Node) ToService(h *plugin.Hop, svc *corev1.Service) (*plugin.Intent, error) {
	h.Suspectf(model.Critical, model.ReasonServiceRulesMissing, "", "",
		"No kube-proxy rule on %s translated the address %s of service %s/%s, so the packet goes on to a virtual address nothing holds: is kube-proxy running there?",
		n.node.Name, h.Packet.Dst, svc.Namespace, svc.Name)
	return nil, nil
}

// ToExternal: out of the underlay; with the pool's natOutgoing (calico's default) a pod's
// address must have been masqueraded by cali-nat-outgoing.
func (n *Node) ToExternal(h *plugin.Hop) (*plugin.Intent, error) {
	in := plugin.ExternalIntent(h)
	if n.plugin.ds.natOutgoingOn() {
		plugin.CheckMasqueraded(h, in, "-A cali-nat-outgoing -m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE",
			"calico's nat-outgoing rule", "is natOutgoing on for the pool, and are felix's cali-nat-outgoing rule and ipsets in place?")
	}
	return in, nil
}

// nodeChecks runs once per node: the tunnel device of the mode, and its MTU against the
// underlay's.
func (n *Node) nodeChecks(h *plugin.Hop) {
	if n.checked || h.Stack == nil {
		return
	}
	n.checked = true
	mode, _ := n.plugin.Mode(n.node, h.Stack)
	var dev *netstack.Interface
	overhead := 0
	switch mode {
	case ModeVXLAN:
		dev, overhead = n.plugin.vxlanDevice(h.Stack), VXLANOverhead
		if dev == nil {
			h.Suspectf(model.Critical, model.ReasonInterfaceMissing, n.plugin.cfg.VXLANDevice, "",
				"%s has no %s although calico runs in vxlan mode: felix creates it at start (is calico-node running on %s?)", n.node.Name, n.plugin.cfg.VXLANDevice, n.node.Name)
			return
		}
	case ModeIPIP:
		dev, overhead = ipipDevice(h.Stack), IPIPOverhead
		if dev == nil {
			h.Suspectf(model.Critical, model.ReasonInterfaceMissing, DefaultIPIPDevice, "",
				"%s has no IP-in-IP device %s although calico runs in ipip mode (is the ipip module loaded, and calico-node running?)", n.node.Name, DefaultIPIPDevice)
			return
		}
	default:
		return
	}
	configured, setting := n.plugin.cfg.VXLANMTU, "felix's VXLANMTU"
	if mode == ModeIPIP {
		configured, setting = n.plugin.cfg.IPIPMTU, "felix's IpInIpMtu"
	}
	plugin.CheckConfiguredMTU(h, dev, configured, overhead, setting)
	under := h.Underlay()
	if dev.VXLAN != nil && dev.VXLAN.Device != "" {
		if u := h.Interface(dev.VXLAN.Device); u != nil {
			under = u
		}
	}
	if under == nil {
		return
	}
	if dev.MTU+overhead > under.MTU {
		h.Suspectf(model.Warning, model.ReasonMTUMismatch, dev.Name, "",
			"%s has MTU %d, but the %s overhead of %d bytes needs %d on %s, which has %d: full-size packets are dropped after encapsulation; set calico's MTU (veth_mtu) to %d",
			dev.Name, dev.MTU, mode, overhead, dev.MTU+overhead, under.Name, under.MTU, under.MTU-overhead)
	}
}

// checkPodMTU checks that the sending pod's MTU fits the way calico takes to the peer: the
// tunnel device when encapsulating, the underlay otherwise.
func (n *Node) checkPodMTU(h *plugin.Hop, mode string) {
	ep, podIf, ok := plugin.SendingPod(h)
	if !ok {
		return
	}
	var way *netstack.Interface
	switch mode {
	case ModeVXLAN:
		way = n.plugin.vxlanDevice(h.Stack)
	case ModeIPIP:
		way = ipipDevice(h.Stack)
	default:
		way = h.Underlay()
	}
	if way == nil || podIf.MTU <= way.MTU {
		return
	}
	h.Suspect(model.Suspicion{Level: model.Warning, Reason: model.ReasonMTUMismatch, Node: n.node.Name, Interface: way.Name,
		Message: fmt.Sprintf("Pod %s/%s has MTU %d on %s, more than the %d of %s that calico %s carries it over: large packets are dropped or fragmented; the pod MTU should be %d",
			ep.Namespace, ep.Name, podIf.MTU, podIf.Name, way.MTU, way.Name, mode, way.MTU)})
}

// localPod returns the pod on this node that holds ip, if any.
func (n *Node) localPod(ip netip.Addr) *corev1.Pod {
	ep, ok := n.plugin.env.Cluster.IPCache().Lookup(ip)
	if !ok || ep.Type != model.EndpointPod || ep.Node != n.node.Name {
		return nil
	}
	pod := n.plugin.env.Cluster.Pod(ep.Namespace, ep.Name)
	if pod == nil || pod.Spec.HostNetwork {
		return nil
	}
	return pod
}
