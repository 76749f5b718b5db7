package hop

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

// Bridge is the device kind of a Linux bridge: the frame goes to the port whose pod holds
// the next hop.
type Bridge struct{}

// Out delivers to the bridge port whose pod holds the next hop.
func (Bridge) Out(p *Pipeline, h *Hop, br *netstack.Interface, nh netip.Addr) Decision {
	h.checked(h.Assert().Neighbour(br.Name, nh, false), "")
	if node := h.Env.Nodes[p.Node]; node != nil {
		for i := range node.Pods {
			ps := &node.Pods[i]
			if ps.Pod == nil {
				continue
			}
			for _, ifc := range ps.Interfaces {
				if !slices.ContainsFunc(ifc.Addresses, func(a netip.Prefix) bool { return a.Addr() == nh }) || ifc.Veth == nil {
					continue
				}
				port := InterfaceByIndex(h.Stack, ifc.Veth.PeerIndex)
				if port == nil || port.Master != br.Name {
					continue
				}
				if !port.Up {
					h.drop(model.ReasonInterfaceDown, port.Name, "", "port "+port.Name+" is down", "Port %s of bridge %s, the veth of pod %s/%s, is down", port.Name, br.Name, ps.Pod.Namespace, ps.Pod.Name)
					return Stopped()
				}
				if hairpinOff(h, port) {
					h.drop(model.ReasonServiceHairpinModeOff, port.Name, "", "port "+port.Name+" is not in hairpin mode",
						"The packet of pod %s/%s comes back to it through its Service, so bridge %s must send it out of port %s, which it came in by; the port's hairpin mode is off, so the bridge drops it (the CNI bridge plugin's hairpinMode, or kubelet's --hairpin-mode)",
						ps.Pod.Namespace, ps.Pod.Name, br.Name, port.Name)
					return Stopped()
				}
				h.Step("bridge", "forward", fmt.Sprintf("%s port %s to %s", br.Name, port.Name, nh))
				return Emitted(&Transmission{
					Transmission: model.Transmission{
						To:   PodNetNode(ps.Pod.Namespace, ps.Pod.Name, p.Node),
						Link: model.Link{Type: model.LinkVeth, FromInterface: port.Name, ToInterface: ifc.Name},
					},
					NextHop: nh,
				})
			}
		}
	}
	if ep, ok := h.Env.Cluster.IPCache().Lookup(nh); ok && ep.Type == model.EndpointPod && ep.Node == p.Node {
		h.Suspectf(model.Info, model.ReasonSnapshotMissing, br.Name, "", "The namespace of pod %s/%s was not collected, so its port on %s is not checked", ep.Namespace, ep.Name, br.Name)
		return Emitted(&Transmission{
			Transmission: model.Transmission{
				To:   PodNetNode(ep.Namespace, ep.Name, p.Node),
				Link: model.Link{Type: model.LinkVeth, FromInterface: br.Name},
			},
			NextHop: nh,
		})
	}
	h.drop(model.ReasonNeighbourMissing, br.Name, "", "no pod on "+br.Name+" has "+nh.String(),
		"No pod on bridge %s of %s holds %s, so nothing answers ARP for it (a deleted pod whose address is still used?)", br.Name, p.Node, nh)
	return Stopped()
}
