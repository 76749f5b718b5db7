package hop

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

// The routing stage: the lookup through the policy rules and their tables, which applies
// forwarding and reverse path filtering to a received packet as the kernel's input route
// does.

func protoNumber(p model.Protocol) int {
	switch p {
	case model.TCP:
		return 6
	case model.UDP:
		return 17
	case model.ICMP:
		return 1
	case model.SCTP:
		return 132
	}
	return 0
}

func routeQuery(pkt model.Packet, iif string) netstack.RouteQuery {
	q := netstack.RouteQuery{Dst: pkt.Dst, IIF: iif, Mark: pkt.Mark, IPProto: protoNumber(pkt.Protocol), SPort: pkt.SrcPort, DPort: pkt.DstPort}
	if iif != "" {
		q.Src = pkt.Src
	}
	return q
}

// Route looks q up and turns a decision that stops the packet into a suspicion, with the
// plugin's explanation of a refusal; ok is false when the branch ended.
func (p *Pipeline) Route(h *Hop, q netstack.RouteQuery) (netstack.RouteResult, bool) {
	if h.Stack.PartError("routes") != nil {
		h.end(Undecided, "routes of "+p.NetNode.Name+" not collected")
		return netstack.RouteResult{}, false
	}
	r, sus := h.Assert().Route(q)
	if r.Routed() && Blocking(sus) == 0 {
		text := FormatRoute(r.Route)
		for _, s := range sus {
			h.Suspect(s)
		}
		switch r.Type {
		case netstack.RouteUnicast, netstack.RouteLocal:
			h.Step("route", r.Type, text)
			return r, true
		}
		h.Suspectf(model.Info, model.ReasonPluginUnknown, "", text, "The route to %s on %s is of type %q, which the engine does not follow", q.Dst, p.NetNode.Name, r.Type)
		h.end(Undecided, "route type "+r.Type)
		return r, false
	}
	h.Step("route", "reject "+string(r.Reject), strings.Join(r.Trace, "; "))
	if len(sus) == 0 {
		sus = []model.Suspicion{{Level: model.Critical, Reason: model.ReasonRouteMissing, Message: fmt.Sprintf("%s does not route %s: %s", p.NetNode.Name, q, r.Reject)}}
	}
	if !h.checked(sus, rejectWhy(r, q)) && p.Ext.ExplainRouteReject != nil {
		p.Ext.ExplainRouteReject(h, q, r)
	}
	return r, false
}

// rejectWhy says in a few words why the kernel does not route q.
func rejectWhy(r netstack.RouteResult, q netstack.RouteQuery) string {
	switch r.Reject {
	case netstack.RejectNone:
		return "the route leaves by " + r.Device + ", which has no carrier"
	case netstack.RejectNoRoute:
		return "no route to " + q.Dst.String()
	case netstack.RejectBlackhole:
		return "route to " + q.Dst.String() + " is a blackhole"
	case netstack.RejectForwardingDisabled:
		return "forwarding is off on " + q.IIF
	case netstack.RejectRPFilter:
		return "rp_filter drops it on " + q.IIF
	}
	return "the kernel refuses to route it (" + strings.ToLower(string(r.Reject)) + ")"
}

// selectSource picks the source address the kernel gives a local socket for route r.
func selectSource(h *Hop, r netstack.RouteResult) (src netip.Addr) {
	if r.Src.IsValid() {
		return r.Src
	}
	if ifc := h.Interface(r.Device); ifc != nil && len(ifc.Addresses) > 0 {
		return ifc.Addresses[0].Addr()
	}
	return netip.Addr{}
}
