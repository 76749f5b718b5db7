package kindnet

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin"
)

// Node is kindnet's SimplePluginNode for a node.
type Node struct {
	plugin.NodeDefaults
	plugin *Plugin
	node   *corev1.Node
}

var _ plugin.SimplePluginNode = (*Node)(nil)

// ToPod: a local pod by ptp's host route to its veth, a remote one via its node's
// InternalIP.
func (n *Node) ToPod(h *plugin.Hop, pod *corev1.Pod) (*plugin.Intent, error) {
	return plugin.PodIntent(h, pod,
		func() *plugin.Intent { return n.toLocalPod(h, pod) },
		func(other *corev1.Node) *plugin.Intent {
			in := n.toPeer(h, other, h.Packet.Dst)
			n.checkPodMTU(h)
			return in
		})
}

// toLocalPod is ptp's /32 route to the pod's veth; it reports the route missing.
func (n *Node) toLocalPod(h *plugin.Hop, pod *corev1.Pod) *plugin.Intent {
	veth := n.hostVeth(pod)
	in := localPodIntent(pod, veth)
	if h.Stack == nil || veth == "" || !h.Packet.Dst.IsValid() {
		return in
	}
	host := netip.PrefixFrom(h.Packet.Dst, 32)
	for _, r := range h.Stack.Routes {
		if r.Table == netstack.TableMain && r.Dst == host && r.Device == veth && (r.Type == "" || r.Type == netstack.RouteUnicast) {
			return in
		}
	}
	why := "was the route deleted, or did the pod's CNI ADD fail half-way?"
	if v := h.Interface(veth); v != nil && !v.Up {
		// The kernel drops a device's routes when it goes down and brings back only its own.
		why = veth + " is down, and the kernel dropped the route with it: bringing the link up does not add it back"
	}
	h.Suspectf(model.Critical, model.ReasonRouteMissing, veth, "",
		"%s has no route for pod %s/%s's address %s by %s, the host end of its veth: the ptp plugin adds it when the pod starts (ip route add %s dev %s scope host), and kindnet routes no pod CIDR of its own node, so without it the packet for the pod goes elsewhere (%s)",
		n.node.Name, pod.Namespace, pod.Name, h.Packet.Dst, veth, host, veth, why)
	return in
}

// hostVeth is the host end of a local pod's veth: the interface whose index the pod's eth0
// names as its peer.
func (n *Node) hostVeth(pod *corev1.Pod) string {
	ps := n.plugin.env.PodStack(pod.Namespace, pod.Name)
	host := n.plugin.env.NodeStack(n.node.Name)
	if ps == nil || host == nil {
		return ""
	}
	podIf := ps.InterfaceWithAddr(podIP(pod))
	if podIf == nil || podIf.Veth == nil {
		return ""
	}
	if v := host.InterfaceByIndex(podIf.Veth.PeerIndex); v != nil {
		return v.Name
	}
	return ""
}

func podIP(pod *corev1.Pod) netip.Addr {
	ip, err := netip.ParseAddr(pod.Status.PodIP)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}

// toPeer is kindnetd's route to the pod CIDR of other that holds dst; it reports the route
// missing.
func (n *Node) toPeer(h *plugin.Hop, other *corev1.Node, dst netip.Addr) *plugin.Intent {
	gw, _ := cluster.NodeInternalIP(other)
	cidr := netip.Prefix{}
	for _, c := range podCIDRs(other) {
		if c.Contains(dst) {
			cidr = c
		}
	}
	dev := ""
	if u := h.Underlay(); u != nil {
		dev = u.Name
	}
	in := peerIntent(other, dev, gw, cidr)
	if h.Stack == nil || !cidr.IsValid() || !gw.IsValid() {
		return in
	}
	for _, r := range h.Stack.Routes {
		if r.Table == netstack.TableMain && r.Dst.Masked() == cidr && (r.Type == "" || r.Type == netstack.RouteUnicast) {
			if r.Gateway != gw {
				// The hop reports where the packet goes instead; this says what to do.
				h.Suspectf(model.Info, model.ReasonPathDiverges, r.Device, r.String(),
					"%s routes %s's pod CIDR %s via %s, not via %s's InternalIP %s: kindnetd replaces such a route within 10 seconds, so one that stays means kindnetd is not running on %s (or something else keeps rewriting the route)",
					n.node.Name, other.Name, cidr, r.Gateway, other.Name, gw, n.node.Name)
			}
			return in
		}
	}
	h.Suspectf(model.Critical, model.ReasonRouteMissing, dev, "",
		"%s has no route for %s's pod CIDR %s (kindnetd lays %s via %s, %s's InternalIP), so the packet follows the node's other routes: kindnetd adds it from the Node object within 10 seconds; is kindnetd running on %s?",
		n.node.Name, other.Name, cidr, cidr, gw, other.Name, n.node.Name)
	return in
}

// ToExternal: an address of another node's pod CIDR that no pod holds still goes to that
// node, since kindnetd routes by pod CIDR; anything else leaves by the underlay,
// masqueraded by KIND-MASQ-AGENT.
func (n *Node) ToExternal(h *plugin.Hop) (*plugin.Intent, error) {
	if other := podCIDROwner(h.Env.Cluster, h.Packet.Dst); other != nil && other.Name != n.node.Name {
		return n.toPeer(h, other, h.Packet.Dst), nil
	}
	in := plugin.ExternalIntent(h)
	// The hint reads the node's nat table: only for a packet that needs it.
	if plugin.Unmasqueraded(h) {
		plugin.CheckMasqueraded(h, in, "-A "+MasqChain+" -j MASQUERADE",
			"kindnetd's masquerade ("+MasqChain+" in the nat table)", n.masqueradeHint(h))
	}
	return in, nil
}

// masqueradeHint says why KIND-MASQ-AGENT did not apply, from the node's nat table.
func (n *Node) masqueradeHint(h *plugin.Hop) string {
	if n.plugin.inPodSubnet(h.Packet.Dst) {
		return fmt.Sprintf("%s is inside the cluster's pod subnet %s, for which %s returns", h.Packet.Dst, n.plugin.podSubnetText(), MasqChain)
	}
	if h.Stack == nil || h.Stack.IPTables == "" {
		return "the node's iptables rules were not collected"
	}
	nat := natTable(h.Stack.IPTables)
	switch {
	case !strings.Contains(nat, ":"+MasqChain+" "):
		return fmt.Sprintf("the nat table of %s has no %s chain: kindnetd creates it at start and checks it every 60 seconds; is kindnetd running on %s?", n.node.Name, MasqChain, n.node.Name)
	case !strings.Contains(nat, "-j "+MasqChain):
		return fmt.Sprintf("POSTROUTING of %s does not jump to %s: kindnetd appends the jump at start and every 60 seconds; is kindnetd running on %s?", n.node.Name, MasqChain, n.node.Name)
	case !strings.Contains(nat, "-A "+MasqChain+" ") || !strings.Contains(nat, "-j MASQUERADE"):
		return fmt.Sprintf("%s on %s has no MASQUERADE rule: kindnetd appends it last in the chain every 60 seconds; is kindnetd running on %s?", MasqChain, n.node.Name, n.node.Name)
	}
	return "a rule before " + MasqChain + "'s MASQUERADE returned or accepted the packet: look at the nat table's POSTROUTING"
}

func (p *Plugin) podSubnetText() string {
	var s []string
	for _, pr := range p.ds.podSubnet {
		s = append(s, pr.String())
	}
	if len(s) == 0 {
		return "(the nodes' pod CIDRs)"
	}
	return strings.Join(s, ",")
}

// natTable is the *nat section of an iptables-save text.
func natTable(save string) string {
	_, rest, ok := strings.Cut(save, "*nat\n")
	if !ok {
		return ""
	}
	nat, _, _ := strings.Cut(rest, "\nCOMMIT")
	return nat
}

// checkPodMTU checks the sending pod's MTU against the underlay, which kindnet carries pod
// traffic on unencapsulated (kindnetd writes eth0's MTU into the CNI config).
func (n *Node) checkPodMTU(h *plugin.Hop) {
	_, podIf, ok := plugin.SendingPod(h)
	if !ok {
		return
	}
	if u := h.Underlay(); u != nil {
		for _, s := range h.Assert().MTU(u.Name, podIf.MTU) {
			h.Suspect(s)
		}
	}
}
