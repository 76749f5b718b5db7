package plugin

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/policy"
)

// Assert returns the checks of the hop's namespace (netstack.NetstackAssertion): every
// check of the state a hop makes, the plugin's own included, is one of them.
func (h *Hop) Assert() *netstack.NetstackAssertion {
	return &netstack.NetstackAssertion{NS: h.Stack, Node: h.Node, Pod: h.podName()}
}

// checked records what a check found; it reports false, and ends the branch with why, when
// a finding stops the packet.
func (h *Hop) checked(sus []model.Suspicion, why string) bool {
	for _, s := range sus {
		h.Suspect(s)
	}
	if blocking(sus) == 0 {
		return true
	}
	h.end(Dropped, why)
	return false
}

// checkState turns the parts the collector could not read into suspicions: an empty part
// is not trusted as an empty state.
func (b *BasePluginNode) checkState(h *Hop) {
	for _, s := range h.Assert().PartErrors() {
		h.Suspect(s)
	}
}

func (b *BasePluginNode) partMissing(h *Hop, part string) bool {
	return h.Stack.PartError(part) != nil
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
	if b.partMissing(h, "routes") {
		h.end(Undecided, "routes of "+b.NetNode.Name+" not collected")
		return netstack.RouteResult{}, false
	}
	r, sus := h.Assert().Route(q)
	if r.Routed() && blocking(sus) == 0 {
		text := FormatRoute(r.Route)
		for _, s := range sus {
			h.Suspect(s)
		}
		switch r.Type {
		case netstack.RouteUnicast, netstack.RouteLocal:
			h.Step("route", r.Type, text)
			return r, true
		}
		h.Suspectf(model.Info, model.ReasonPluginUnknown, "", text, "The route to %s on %s is of type %q, which the engine does not follow", q.Dst, b.NetNode.Name, r.Type)
		h.end(Undecided, "route type "+r.Type)
		return r, false
	}
	h.Step("route", "reject "+string(r.Reject), strings.Join(r.Trace, "; "))
	if len(sus) == 0 {
		sus = []model.Suspicion{{Level: model.Critical, Reason: model.ReasonRouteMissing, Message: fmt.Sprintf("%s does not route %s: %s", b.NetNode.Name, q, r.Reject)}}
	}
	h.checked(sus, rejectWhy(r, q))
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
// or not. The hook is evaluated even in a namespace without rules: conntrack's reversal of a
// reply's NAT happens in the evaluator's nat stage. Rules that cannot be read make the hook
// Unknown, with an Info: they may decide, so the packet is not assumed through.
func (b *BasePluginNode) evaluate(h *Hop, hook, in, out string) []NFOutcome {
	pkt := h.nfPacket(in, out)
	nf, err := h.Env.filter(h.Stack)
	if err != nil {
		h.Suspectf(model.Info, model.ReasonRuleNotUnderstood, "", "", "The netfilter rules of %s could not be read (%v), so whether they let the packet through %s is not known", b.NetNode.Name, err, hook)
		return []NFOutcome{{Verdict: NFUnknown, Packet: h.Packet, NF: pkt, Rule: "unreadable rules: " + err.Error(), Probability: 1}}
	}
	if nf == nil {
		if h.Stack.IPTables != "" || h.Stack.NFTables != "" {
			h.Suspectf(model.Info, model.ReasonRuleNotUnderstood, "", "", "The netfilter rules of %s are not evaluated in this build", b.NetNode.Name)
		}
		return []NFOutcome{{Verdict: NFAccept, Packet: h.Packet, NF: pkt, Probability: 1}}
	}
	return nf.Hook(hook, pkt)
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
	h := before.after(o)
	b.uncertain(h, hook, o)
	switch o.Verdict {
	case NFAccept:
		if rev := reversals(o); rev != "" && o.Packet != before.Packet {
			// A reply: the connection's NAT undone, not a rule's.
			h.Step("conntrack", hook+" "+rev, "")
			return true
		}
		if o.Packet != before.Packet {
			h.Step("netfilter", hook+" "+natAction(before.Packet, o.Packet), o.Rule)
		}
		return true
	case NFDrop:
		h.Step(o.RulesetName(), hook+" DROP", o.Rule)
		h.drop(o.DropReason(), cmpOr(in, out), o.Rule, o.RulesetName()+" "+hook+" drops it",
			"An %s rule of %s drops the packet in %s (chain %s): %s", o.RulesetName(), b.NetNode.Name, hook, o.Chain, traceText(o))
	case NFReject:
		h.Step(o.RulesetName(), hook+" REJECT", o.Rule)
		h.drop(o.RejectReason(), cmpOr(in, out), o.Rule, o.RulesetName()+" "+hook+" rejects it",
			"An %s rule of %s rejects the packet in %s (chain %s): %s", o.RulesetName(), b.NetNode.Name, hook, o.Chain, traceText(o))
	default:
		h.Step("netfilter", hook+" UNKNOWN", o.Rule)
		h.Suspectf(model.Info, model.ReasonRuleNotUnderstood, "", o.Rule, "Whether %s lets the packet through %s depends on a rule the engine does not understand", b.NetNode.Name, hook)
		h.end(Undecided, "a rule of "+b.NetNode.Name+" is not understood")
	}
	return false
}

// reversals names the NAT conntrack reversed on a reply at a hook ("un-DNAT 10.244.1.10:8080
// -> 10.96.0.10:80"), empty when it reversed none.
func reversals(o NFOutcome) string {
	if o.Eval == nil {
		return ""
	}
	var parts []string
	for _, n := range o.Eval.NAT {
		if n.Rule == nil {
			parts = append(parts, n.String())
		}
	}
	return strings.Join(parts, ", ")
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
