package plugin

import (
	"net/netip"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin/hop"
)

// External is the NetNode of a place outside the cluster. The engine does not follow the
// packet beyond the cluster's edge, except to say when a packet for the cluster left it.
type External struct {
	NetNode *model.NetNode
	Env     *Env
}

var _ NetNodeAction = (*External)(nil)

// Send starts a packet outside the cluster: it arrives at the node that holds its
// destination (a NodePort, a node address), as a router would deliver it.
func (e *External) Send(dst model.Endpoint, pkt model.Packet) (*HopResult, error) {
	res := &HopResult{}
	node := dst.Node
	if node == "" {
		if n, ok := e.Env.NodeOf(pkt.Dst); ok {
			node = n
		}
	}
	if smp, ok := e.Env.Entries(pkt.Dst); node == "" && ok {
		// A load-balancer or external IP: the router outside sends to one of the entry
		// nodes, each a branch.
		for _, n := range smp.Entries {
			res.Next = append(res.Next, &Transmission{
				Transmission: model.Transmission{From: e.NetNode, To: NodeNetNode(n), Packet: pkt, Link: model.Link{Type: model.LinkExternal, ToInterface: e.interfaceOf(n, pkt.Dst), Packet: pkt}},
				NextHop:      pkt.Dst,
			})
		}
		return res, nil
	}
	if node == "" {
		res.Suspicions = append(res.Suspicions, model.Suspicion{Level: model.Info, Reason: model.ReasonPathDiverges,
			Message: "A packet from outside the cluster to " + pkt.Dst.String() + " reaches no node the engine knows: the router outside decides where it goes"})
		res.Ends = append(res.Ends, End{Kind: Undecided, NodeID: e.NetNode.ID, Packet: pkt, Why: "the way in from outside is not known"})
		return res, nil
	}
	to := NodeNetNode(node)
	ifc := e.interfaceOf(node, pkt.Dst)
	res.Next = append(res.Next, &Transmission{
		Transmission: model.Transmission{From: e.NetNode, To: to, Packet: pkt, Link: model.Link{Type: model.LinkExternal, ToInterface: ifc, Packet: pkt}},
		NextHop:      pkt.Dst,
	})
	return res, nil
}

// Receive ends the walk at the edge of the cluster.
func (e *External) Receive(t *Transmission) (*HopResult, error) {
	res := &HopResult{}
	if ep, ok := e.Env.Cluster.IPCache().Lookup(t.Packet.Dst); ok {
		res.Suspicions = append(res.Suspicions, model.Suspicion{
			Level: model.Critical, Reason: model.ReasonRouteWrongNode, Node: t.From.Node, Interface: t.Link.FromInterface,
			Message: "The packet for " + ep.String() + " leaves " + t.From.Name + " towards " + e.NetNode.Name + ", outside the cluster, instead of the node that holds it: the route the network plugin makes is missing",
		})
		res.Ends = append(res.Ends, End{Kind: Dropped, NodeID: e.NetNode.ID, Packet: t.Packet, Why: "the packet leaves the cluster towards " + e.NetNode.Name})
		return res, nil
	}
	res.Steps = append(res.Steps, model.Step{NodeID: e.NetNode.ID, Component: "external", Action: "leave", Detail: "the engine does not follow the packet beyond the cluster", Packet: t.Packet})
	if t.Reply != "" {
		res.Ends = append(res.Ends, End{Kind: Delivered, NodeID: t.Reply, Packet: t.Packet, Why: "the reply leaves the cluster to " + e.NetNode.Name})
		return res, nil
	}
	// The host outside answers; its reply comes back to the node that holds the address it
	// saw as the source (the node's own, when the packet was masqueraded).
	reply := t.Packet.Reply()
	node, ok := e.Env.NodeOf(reply.Dst)
	if !ok {
		res.Ends = append(res.Ends, End{Kind: Dropped, NodeID: e.NetNode.ID, Packet: reply,
			Why: "the reply to " + reply.Dst.String() + " has no way back into the cluster: that source address is no node's"})
		return res, nil
	}
	res.Steps = append(res.Steps, model.Step{NodeID: e.NetNode.ID, Component: "external", Action: "reply", Detail: "to " + node, Packet: reply})
	res.Next = append(res.Next, &Transmission{
		Transmission: model.Transmission{From: e.NetNode, To: NodeNetNode(node), Packet: reply, Link: model.Link{Type: model.LinkExternal, ToInterface: e.interfaceOf(node, reply.Dst), Packet: reply}},
		NextHop:      reply.Dst,
		Reply:        e.NetNode.ID,
	})
	return res, nil
}

// interfaceOf is the interface of node that holds addr, else the one with its InternalIP.
func (e *External) interfaceOf(node string, addr netip.Addr) string {
	st := e.Env.NodeStack(node)
	if st == nil {
		return ""
	}
	if i := hop.InterfaceWithAddr(st, addr); i != nil {
		return i.Name
	}
	if n := e.Env.Cluster.Node(node); n != nil {
		if ip, ok := cluster.NodeInternalIP(n); ok {
			if i := hop.InterfaceWithAddr(st, ip); i != nil {
				return i.Name
			}
		}
	}
	return ""
}
