package hop

import (
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// deliver is the stage of a packet that reached this NetNode's sockets: a reply is back at
// the socket that opened the connection; a forward packet passes the pod's ingress policy,
// the plugin checks a socket takes it, and the destination answers.
func (p *Pipeline) deliver(h *Hop) Action {
	if h.Reply != "" {
		h.Step("socket", "reply delivered", "")
		h.res.Ends = append(h.res.Ends, End{Kind: Delivered, NodeID: h.Reply, Packet: h.Packet, Why: "the reply comes back to " + p.NetNode.Name})
		return Deliver
	}
	h.Step("socket", "deliver", "")
	if p.Pod != nil && !p.policy(h, false) {
		return Drop
	}
	before := Blocking(h.res.Suspicions)
	if err := p.Intents.Serve(h); err != nil {
		h.Suspectf(model.Info, model.ReasonPluginUnknown, "", "", "The plugin could not check delivery at %s: %v", p.NetNode.Name, err)
		h.end(Undecided, "delivery not checked")
		return Drop
	}
	if Blocking(h.res.Suspicions) > before {
		h.end(Dropped, "nothing takes the packet at "+p.NetNode.Name)
		return Drop
	}
	p.answer(h)
	return Deliver
}

// answer sends the destination's reply back the way the state takes it: its own route,
// the hooks with the connection ESTABLISHED, and conntrack undoing the NAT at every NetNode
// the forward packet was translated at. A connection whose first packet arrives but whose
// reply cannot come back (no route, a rule that drops only the reply, strict rp_filter
// on an asymmetric way) fails as surely as one whose first packet is dropped.
func (p *Pipeline) answer(h *Hop) {
	hr := h.With(h.Packet.Reply())
	hr.Conn = nf.Packet{Conn: h.Conn}.Reply().Conn
	hr.Reply, hr.In, hr.IIF = p.NetNode.ID, nil, ""
	// The question's size is the forward packets'; replies are not asked about.
	hr.Size = 0
	hr.Step("socket", "reply", hr.Packet.String())
	r, ok := p.Route(hr, routeQuery(hr.Packet, ""))
	if !ok {
		return
	}
	for _, hb := range p.through(hr, nf.Output, "", r.Device) {
		if r.Type == netstack.RouteLocal {
			p.input(hb, "lo")
			continue
		}
		p.postrouting(hb, r, "")
	}
}
