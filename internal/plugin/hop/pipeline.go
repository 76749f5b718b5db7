package hop

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// Intents is what a plugin says about one NetNode: where it intends a packet to go next,
// with the checks only the plugin knows (the MTU its tunnel needs, the masquerade it
// installs), and what it checks when the packet arrives at its destination. The pipeline
// does the hop from the real state and calls these to compare (plugin.SimplePluginNode).
//
// Each To* method returns the plugin's intent for the packet in h (already translated by
// the NAT on this NetNode), or nil when the plugin has no opinion; it records what it finds
// with h.Suspect and h.Step.
type Intents interface {
	ToPod(h *Hop, pod *corev1.Pod) (*Intent, error)
	ToHost(h *Hop, node *corev1.Node) (*Intent, error)
	ToService(h *Hop, svc *corev1.Service) (*Intent, error)
	ToExternal(h *Hop) (*Intent, error)
	// Serve checks that the packet, arrived at its destination, is taken by a socket.
	Serve(h *Hop) error
}

// Intent is where a plugin means a packet to go from a NetNode.
type Intent struct {
	// Next is the next place: the NetNode itself for local delivery, or NodeNetNode,
	// PodNetNode, ExternalNetNode.
	Next *model.NetNode
	// Device and Gateway are the route the plugin installs for it, when it installs one.
	Device  string
	Gateway netip.Addr
	// Why says in a few words what the plugin expects ("flannel vxlan to node-b").
	Why string
}

// Extensions are what a plugin adds to the shared hop of one NetNode. The shared stages
// call them; none of them edits a result after the hop.
type Extensions struct {
	// Devices are egress device kinds beyond the shared ones (veth, bridge, vxlan, a plain
	// link), by the interface kind netlink reports ("ipip"). A Device that is a Tunnel also
	// takes its link type's packets in at the peer.
	Devices map[string]Device
	// ExplainDrop names a DROP or REJECT by a netfilter rule in the plugin's words (the
	// chain it programs and what it is); "" keeps the shared message. It may record more
	// on h, such as the policies the chain enforces.
	ExplainDrop func(h *Hop, hook nf.Hook, o *nf.Outcome) string
	// ExplainRouteReject adds the plugin's explanation of a route lookup that refuses the
	// packet (a blackhole route the plugin installs).
	ExplainRouteReject func(h *Hop, q netstack.RouteQuery, r netstack.RouteResult)
	// Emitting are checks on each transmission about to leave the NetNode, in order (the
	// frame reaches the peer's MAC, the mark is scrubbed); one that reports false has
	// ended the branch.
	Emitting []func(h *Hop, t *Transmission) bool
}

// Pipeline is the hop of one pod or node: the shared stages, the plugin's intents and
// extensions.
type Pipeline struct {
	NetNode *model.NetNode
	Env     *Env
	Intents Intents
	// Node is the node the NetNode is, or runs on.
	Node string
	// Pod is the pod of a pod NetNode, nil for a node.
	Pod *corev1.Pod
	Ext Extensions
}

func (p *Pipeline) stack() *netstack.Netstack {
	if p.Pod != nil {
		return p.Env.PodStack(p.Pod.Namespace, p.Pod.Name)
	}
	return p.Env.NodeStack(p.Node)
}

func (p *Pipeline) hop(pkt model.Packet, in *Transmission) *Hop {
	h := &Hop{Env: p.Env, NetNode: p.NetNode, Stack: p.stack(), Node: p.Node, Pod: p.Pod, Packet: pkt, In: in, Size: p.Env.Question.Size, res: &Result{}}
	if in != nil {
		h.Size = in.Size
	}
	if in != nil && in.Reply != "" {
		// The reply belongs to the connection the forward packet made here; the hooks'
		// nat stages reverse that connection's NAT.
		h.Reply, h.Conn = in.Reply, p.Env.replyConn(p.NetNode.ID, pkt)
	}
	return h
}

// Send starts the packet here as a local socket sends it: route lookup, the OUTPUT hook
// (which may translate a service address and re-route), POSTROUTING, out.
func (p *Pipeline) Send(dst model.Endpoint, pkt model.Packet) (*Result, error) {
	h := p.hop(pkt, nil)
	if h.Stack == nil {
		return h.res, p.followIntent(h)
	}
	p.checkState(h)
	if p.Pod != nil {
		if !p.policy(h, true) {
			return h.res, nil
		}
	}
	q := routeQuery(pkt, "")
	if p.Pod != nil {
		q.Src = pkt.Src
	}
	r, ok := p.Route(h, q)
	if !ok {
		return h.res, nil
	}
	if p.Pod == nil && r.Type != netstack.RouteLocal {
		// A node's socket takes the source address the route selects.
		if src := selectSource(h, r); src.IsValid() && src != pkt.Src {
			pkt.Src = src
			h.Packet = pkt
			h.Step("route", "source", "selected "+src.String())
		}
	}
	for _, hb := range p.output(h, r.Device) {
		rr := r
		if hb.Packet.Dst != pkt.Dst || hb.Packet.Mark != pkt.Mark {
			// NAT or a mark changed the key: the kernel routes the packet again.
			var ok bool
			if rr, ok = p.Route(hb, routeQuery(hb.Packet, "")); !ok {
				continue
			}
		}
		if rr.Type == netstack.RouteLocal {
			p.loopback(hb)
			continue
		}
		p.postrouting(hb, rr, "")
	}
	return h.res, nil
}

// Receive takes a packet from the wire: the interface, a tunnel's outer header, the bridge,
// PREROUTING, the routing decision, then local delivery or forwarding.
func (p *Pipeline) Receive(t *Transmission) (*Result, error) {
	h := p.hop(t.Packet, t)
	if h.Stack == nil {
		return h.res, p.followIntent(h)
	}
	p.checkState(h)
	iif, d := p.receive(h, t)
	if d.Action != Continue {
		return h.res, nil
	}
	h.IIF = iif
	p.prerouting(h, iif)
	return h.res, nil
}

// routed continues after the routing decision of a received packet.
// The lookup itself applies forwarding and reverse path filtering, as the kernel's input
// route does.
func (p *Pipeline) routed(h *Hop, r netstack.RouteResult, iif string) {
	if r.Type == netstack.RouteLocal {
		p.input(h, iif)
		return
	}
	for _, o := range p.hook(h, nf.Forward, iif, r.Device) {
		p.postrouting(h.After(&o), r, iif)
	}
}

func (p *Pipeline) postrouting(h *Hop, r netstack.RouteResult, iif string) {
	for _, o := range p.hook(h, nf.PostRouting, iif, r.Device) {
		p.egress(h.After(&o), r)
	}
}
