package hop

import (
	"net/netip"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

// Link is the device kind of a plain link (a physical NIC, a wire to another namespace):
// the packet goes to the node that holds the next hop, or out of the cluster.
type Link struct{}

// Out sends the packet onto the wire.
func (Link) Out(p *Pipeline, h *Hop, dev *netstack.Interface, nh netip.Addr) Decision {
	h.checked(h.Assert().Neighbour(dev.Name, nh, false), "")
	if peer, ok := h.Env.NodeOf(nh); ok && peer != p.Node {
		to := ""
		if ps := h.Env.NodeStack(peer); ps != nil {
			if ifc := InterfaceWithAddr(ps, nh); ifc != nil {
				to = ifc.Name
			}
		}
		return Emitted(&Transmission{
			Transmission: model.Transmission{To: NodeNetNode(peer), Link: model.Link{Type: model.LinkHost, FromInterface: dev.Name, ToInterface: to}},
			NextHop:      nh,
		})
	}
	ext := h.Packet.Dst
	if _, inCluster := h.Env.Cluster.IPCache().Lookup(h.Packet.Dst); inCluster && nh != h.Packet.Dst {
		// The packet is for the cluster but leaves for a router outside it: name the router.
		ext = nh
	}
	return Emitted(&Transmission{
		Transmission: model.Transmission{To: ExternalNetNode(ext), Link: model.Link{Type: model.LinkExternal, FromInterface: dev.Name}},
		NextHop:      nh,
	})
}
