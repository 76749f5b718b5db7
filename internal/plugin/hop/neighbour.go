package hop

import (
	"fmt"
	"net/netip"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

// The neighbour and fdb stage: how the kernel finds the link-layer peer of a next hop
// before a device kind sends to it.

// resolveVTEP resolves a tunnel peer as the kernel does on a vxlan device: the neighbour
// entry of the next hop gives the MAC, the fdb entry of that MAC the remote VTEP. The tunnel
// peer's entries are the plugin's to write: a missing one is not resolved by ARP. ok is
// false when the branch ended.
func (p *Pipeline) resolveVTEP(h *Hop, dev *netstack.Interface, nh netip.Addr) (*netstack.Neighbour, *netstack.FDBEntry, bool) {
	if !h.checked(h.Assert().Neighbour(dev.Name, nh, true), "no neighbour entry for "+nh.String()+" on "+dev.Name) {
		return nil, nil, false
	}
	n := h.Neighbour(dev.Name, nh)
	if n == nil {
		h.end(Undecided, "the neighbours of "+p.NetNode.Name+" were not collected")
		return nil, nil, false
	}
	if !h.checked(h.Assert().FDB(dev.Name, n.HardwareAddr, netip.Addr{}), "no fdb entry for "+n.HardwareAddr+" on "+dev.Name) {
		return nil, nil, false
	}
	f := h.FDB(dev.Name, n.HardwareAddr)
	if f == nil {
		h.end(Undecided, "the fdb of "+p.NetNode.Name+" was not collected")
		return nil, nil, false
	}
	if !f.Dst.IsValid() {
		h.drop(model.ReasonFDBMissing, dev.Name, "", "no fdb entry for "+n.HardwareAddr+" on "+dev.Name,
			"%s has an fdb entry on %s for %s (the MAC of %s) without a remote VTEP, so the packet has nowhere to go", p.NetNode.Name, dev.Name, n.HardwareAddr, nh)
		return nil, nil, false
	}
	return n, f, true
}

// bridgedNextHopAnswers checks, for a pod whose veth's host end is a bridge port, that
// something on that bridge answers ARP for the next hop: the node (any of its addresses, as
// with the default arp_ignore=0), a pod on the node, or proxy ARP on the bridge, unless the
// pod already holds a usable neighbour entry for it. A gateway nobody holds (a typo in the
// pod's routes) never resolves and the packet is never sent. Routed veths (calico) answer by
// proxy ARP, which their plugin checks.
func (p *Pipeline) bridgedNextHopAnswers(h *Hop, host *netstack.Netstack, port, dev *netstack.Interface, nh netip.Addr) bool {
	if port.Master == "" || host.PartError("links") != nil {
		return true
	}
	if nb := h.Neighbour(dev.Name, nh); nb != nil && nb.Usable() {
		return true
	}
	if host.AnswersARP(port.Master, nh) {
		return true
	}
	if ep, ok := h.Env.Cluster.IPCache().Lookup(nh); ok && ep.Type == model.EndpointPod && ep.Node == p.Node {
		return true
	}
	gw := ""
	if br := host.InterfaceByName(port.Master); br != nil && len(br.Addresses) > 0 {
		gw = fmt.Sprintf(" (the node's address on %s is %s)", br.Name, br.Addresses[0].Addr())
	}
	h.drop(model.ReasonNeighbourMissing, dev.Name, "", "nothing on "+port.Master+" answers ARP for "+nh.String(),
		"%s sends %s to next hop %s on %s, but nothing on bridge %s of %s holds %s (not the node, no pod, no proxy ARP), so ARP for it fails and the packet is never sent: fix the pod's route%s",
		p.NetNode.Name, h.Packet, nh, dev.Name, port.Master, p.Node, nh, gw)
	return false
}
