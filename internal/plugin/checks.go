package plugin

import (
	"net/netip"
	"strings"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/policy"
)

// checkState turns the parts the collector could not read into suspicions: an empty part
// is not trusted as an empty state.
func (b *BasePluginNode) checkState(h *Hop) {
	for _, pe := range h.Stack.Errors {
		h.Suspectf(model.Info, model.ReasonSnapshotPartError, "", "", "The %s of %s could not be collected (%s); the checks that read it are not trusted", pe.Part, b.NetNode.Name, pe.Error)
	}
}

func (b *BasePluginNode) partMissing(h *Hop, part string) bool {
	for _, pe := range h.Stack.Errors {
		if pe.Part == part {
			return true
		}
	}
	return false
}

func protoNumber(p model.Protocol) int {
	switch p {
	case model.TCP:
		return 6
	case model.UDP:
		return 17
	case model.ICMP:
		return 1
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

// route looks q up and turns a decision that stops the packet into a suspicion; ok is false
// when the branch ended.
func (b *BasePluginNode) route(h *Hop, q netstack.RouteQuery) (netstack.RouteResult, bool) {
	router, isRouter := any(h.Stack).(Router)
	if !isRouter {
		h.Suspectf(model.Info, model.ReasonPluginUnknown, "", "", "Route lookup is not available in this build, so the way out of %s is not known", b.NetNode.Name)
		h.end(Undecided, "route lookup unavailable")
		return netstack.RouteResult{}, false
	}
	if b.partMissing(h, "routes") {
		h.end(Undecided, "routes of "+b.NetNode.Name+" not collected")
		return netstack.RouteResult{}, false
	}
	r := router.LookupRoute(q)
	text := FormatRoute(r.Route)
	if r.Routed() {
		switch r.Type {
		case netstack.RouteUnicast, netstack.RouteLocal:
			h.Step("route", r.Type, text)
			return r, true
		}
		h.Suspectf(model.Info, model.ReasonPluginUnknown, "", text, "The route to %s on %s is of type %q, which the engine does not follow", q.Dst, b.NetNode.Name, r.Type)
		h.end(Undecided, "route type "+r.Type)
		return r, false
	}
	trace := strings.Join(r.Trace, "; ")
	h.Step("route", "reject "+string(r.Reject), trace)
	where := b.NetNode.Name
	switch r.Reject {
	case netstack.RejectNoRoute:
		h.drop(model.ReasonRouteMissing, "", trace, "no route to "+q.Dst.String(),
			"%s has no route to %s in any table its policy rules reach: the packet is dropped (add the route the network plugin should have made)", where, q.Dst)
	case netstack.RejectBlackhole:
		h.drop(model.ReasonRouteBlackhole, "", cmpOr(text, trace), "route to "+q.Dst.String()+" is a blackhole",
			"The route to %s on %s is a blackhole (%s): the kernel drops the packet silently", q.Dst, where, cmpOr(text, trace))
	case netstack.RejectUnreachable, netstack.RejectProhibit:
		h.drop(model.ReasonRouteUnreachable, "", cmpOr(text, trace), "route to "+q.Dst.String()+" is "+strings.ToLower(string(r.Reject)),
			"%s refuses to route the packet to %s: %s (%s)", where, q.Dst, strings.ToLower(string(r.Reject)), cmpOr(text, trace))
	case netstack.RejectForwardingDisabled:
		h.drop(model.ReasonIPForwardDisabled, q.IIF, "net.ipv4.conf."+q.IIF+".forwarding = 0", "forwarding is off on "+where,
			"%s does not forward packets that come in by %s (net.ipv4.ip_forward or net.ipv4.conf.%s.forwarding is 0): set it to 1", where, q.IIF, q.IIF)
	case netstack.RejectRPFilter:
		h.drop(model.ReasonRPFilterDrop, q.IIF, trace, "rp_filter drops it on "+q.IIF,
			"%s drops the packet from %s by reverse path filtering on %s: the route back to the source does not leave by %s (an asymmetric path); fix the routes or set rp_filter=2", where, q.Src, q.IIF, q.IIF)
	case netstack.RejectNoDevice:
		h.drop(model.ReasonInterfaceMissing, cmpOr(q.IIF, q.OIF), trace, "interface missing",
			"%s has no interface %s", where, cmpOr(q.IIF, q.OIF))
	case netstack.RejectDeviceDown:
		h.drop(model.ReasonInterfaceDown, cmpOr(q.OIF, r.Device), trace, "interface down",
			"The interface the packet must leave %s by is down (%s)", where, trace)
	default:
		h.drop(model.ReasonRouteUnreachable, "", trace, "the kernel refuses to route it ("+string(r.Reject)+")",
			"%s refuses to route the packet %s (%s): %s", where, h.Packet, r.Reject, trace)
	}
	return r, false
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// hook runs the packet through a netfilter hook and returns the branches that go on; the
// branches that end are recorded.
func (b *BasePluginNode) hook(h *Hop, hook, in, out string) []NFOutcome {
	var goOn []NFOutcome
	for _, o := range b.evaluate(h, hook, in, out) {
		if b.settle(h, hook, in, out, o) {
			goOn = append(goOn, o)
		}
	}
	return goOn
}

// evaluate runs the packet through a netfilter hook and returns every way it goes, stopped
// or not. A namespace whose rules cannot be evaluated lets the packet pass, with an Info.
func (b *BasePluginNode) evaluate(h *Hop, hook, in, out string) []NFOutcome {
	pass := []NFOutcome{{Verdict: NFAccept, Packet: h.Packet, Probability: 1}}
	if h.Stack.IPTables == "" {
		return pass
	}
	nf, err := h.Env.filter(h.Stack)
	if err != nil {
		h.Suspectf(model.Info, model.ReasonRuleNotUnderstood, "", "", "The iptables rules of %s could not be read (%v), so they are not evaluated", b.NetNode.Name, err)
		return pass
	}
	if nf == nil {
		h.Suspectf(model.Info, model.ReasonRuleNotUnderstood, "", "", "The iptables rules of %s are not evaluated in this build", b.NetNode.Name)
		return pass
	}
	return nf.Hook(hook, h.Packet, in, out, h.State)
}

// uncertain reports the rules on an outcome's way that the evaluator passed without
// understanding them.
func (b *BasePluginNode) uncertain(h *Hop, hook string, o NFOutcome) {
	for _, r := range o.NotUnderstood {
		h.Suspectf(model.Info, model.ReasonRuleNotUnderstood, "", r, "A rule of %s in %s uses a match or target the engine does not understand; it was not applied", b.NetNode.Name, hook)
	}
}

// settle records what one outcome of a hook means for its branch (h is the hop as the
// packet entered the hook) and reports whether the branch goes on.
func (b *BasePluginNode) settle(before *Hop, hook, in, out string, o NFOutcome) bool {
	h := before.with(o.Packet)
	b.uncertain(h, hook, o)
	switch o.Verdict {
	case NFAccept:
		if o.Packet != before.Packet {
			h.Step("netfilter", hook+" "+natAction(before.Packet, o.Packet), o.Rule)
		}
		return true
	case NFDrop:
		h.Step("netfilter", hook+" DROP", o.Rule)
		h.drop(model.ReasonIPTablesDrop, cmpOr(in, out), o.Rule, "iptables "+hook+" drops it",
			"An iptables rule of %s drops the packet in %s: %s", b.NetNode.Name, hook, traceText(o))
	case NFReject:
		h.Step("netfilter", hook+" REJECT", o.Rule)
		h.drop(model.ReasonIPTablesReject, cmpOr(in, out), o.Rule, "iptables "+hook+" rejects it",
			"An iptables rule of %s rejects the packet in %s: %s", b.NetNode.Name, hook, traceText(o))
	default:
		h.Step("netfilter", hook+" UNKNOWN", o.Rule)
		h.Suspectf(model.Info, model.ReasonRuleNotUnderstood, "", o.Rule, "Whether %s lets the packet through %s depends on a rule the engine does not understand", b.NetNode.Name, hook)
		h.end(Undecided, "a rule of "+b.NetNode.Name+" is not understood")
	}
	return false
}

func natAction(before, after model.Packet) string {
	var parts []string
	if before.Dst != after.Dst || before.DstPort != after.DstPort {
		parts = append(parts, "DNAT")
	}
	if before.Src != after.Src || before.SrcPort != after.SrcPort {
		parts = append(parts, "SNAT")
	}
	if before.Mark != after.Mark {
		parts = append(parts, "MARK")
	}
	return strings.Join(parts, "+")
}

func traceText(o NFOutcome) string {
	if len(o.Trace) == 0 {
		return o.Rule
	}
	return strings.Join(o.Trace, " -> ")
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

// policy applies NetworkPolicy as the packet stands here: egress when the pod sends it,
// ingress when it arrives (after NAT, so a masqueraded source is seen as its node, as the
// data plane sees it). It reports false when the policy stops the packet.
func (b *BasePluginNode) policy(h *Hop, egress bool) bool {
	if h.Env.Policy == nil || len(h.Env.Cluster.NetworkPolicies) == 0 {
		return true
	}
	// The source pod's egress to a service is decided on the translated packet, so it is
	// evaluated where the packet arrives, with the ingress.
	toService := h.Env.Question.Destination.Type == model.EndpointService
	if egress && toService {
		return true
	}
	src, err := policy.PeerFor(h.Env.Cluster, peerEndpoint(h, h.Packet.Src))
	if err != nil {
		return true
	}
	dst, err := policy.PeerFor(h.Env.Cluster, peerEndpoint(h, h.Packet.Dst))
	if err != nil {
		// A service address: policy applies to its backends once translated.
		return true
	}
	d := h.Env.Policy.Evaluate(src, dst, h.Packet.Protocol, h.Packet.DstPort)
	// Each end decides its own direction where the packet is.
	switch {
	case egress:
		d.Ingress = policy.Verdict{Direction: policy.Ingress, Allowed: true}
	case !toService || h.Env.Question.Source.Type != model.EndpointPod:
		d.Egress = policy.Verdict{Direction: policy.Egress, Allowed: true}
	}
	d.Allowed = d.Egress.Allowed && d.Ingress.Allowed
	for _, st := range policy.Steps(d, b.NetNode.ID, b.NetNode.ID, h.Packet) {
		h.res.Steps = append(h.res.Steps, st)
	}
	for _, s := range policy.Suspicions(d, src, dst, h.Env.EnforcesPolicy) {
		h.Suspect(s)
	}
	if d.Allowed || !h.Env.EnforcesPolicy {
		return true
	}
	dir := "ingress"
	if egress {
		dir = "egress"
	}
	h.end(Dropped, "NetworkPolicy denies "+dir)
	return false
}

func peerEndpoint(h *Hop, ip netip.Addr) model.Endpoint {
	if ep, ok := h.Env.Cluster.IPCache().Lookup(ip); ok {
		ep.IP = ip
		return ep
	}
	return model.Endpoint{Type: model.EndpointExternal, IP: ip}
}
