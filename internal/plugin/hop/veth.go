package hop

import (
	"net/netip"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

// Veth is the device kind of a veth pair: from a pod to its node, or from a node to the pod
// whose end is the peer. A veth whose peer is no pod is a wire to another namespace.
type Veth struct{}

// Out crosses the pair.
func (Veth) Out(p *Pipeline, h *Hop, dev *netstack.Interface, nh netip.Addr) Decision {
	if p.Pod != nil {
		to := ""
		if dev.Veth != nil {
			if host := h.Env.NodeStack(p.Node); host != nil {
				if peer := InterfaceByIndex(host, dev.Veth.PeerIndex); peer != nil {
					to = peer.Name
					if !p.bridgedNextHopAnswers(h, host, peer, dev, nh) {
						return Stopped()
					}
				}
			}
		}
		return Emitted(&Transmission{
			Transmission: model.Transmission{To: NodeNetNode(p.Node), Link: model.Link{Type: model.LinkVeth, FromInterface: dev.Name, ToInterface: to}},
			NextHop:      nh,
		})
	}
	if node := h.Env.Nodes[p.Node]; node != nil {
		for i := range node.Pods {
			ps := &node.Pods[i]
			for _, ifc := range ps.Interfaces {
				if ifc.Veth != nil && ifc.Veth.PeerIndex == dev.Index && ps.Pod != nil {
					return Emitted(&Transmission{
						Transmission: model.Transmission{To: PodNetNode(ps.Pod.Namespace, ps.Pod.Name, p.Node), Link: model.Link{Type: model.LinkVeth, FromInterface: dev.Name, ToInterface: ifc.Name}},
						NextHop:      nh,
					})
				}
			}
		}
	}
	if ep, ok := h.Env.Cluster.IPCache().Lookup(nh); ok && ep.Type == model.EndpointPod && ep.Node == p.Node && dev.Master == "" {
		// A routed veth to a pod whose namespace was not collected.
		return Emitted(&Transmission{
			Transmission: model.Transmission{To: PodNetNode(ep.Namespace, ep.Name, p.Node), Link: model.Link{Type: model.LinkVeth, FromInterface: dev.Name}},
			NextHop:      nh,
		})
	}
	// The node's uplink.
	return Link{}.Out(p, h, dev, nh)
}
