package hop

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/netfilter"
	"github.com/netdiag/netdiag/internal/netstack/nf"
	"github.com/netdiag/netdiag/internal/service"
)

// A packet addressed to a service meets the node's service proxy at the hook it enters the
// node by: PREROUTING, or OUTPUT for the node's own packets. Where the proxy is netfilter
// (kube-proxy in iptables or nftables mode, or no kube-proxy at all), the hop's own evaluation of the
// hooks is the one translation, and service.Explain reads it: which service and port, which
// endpoint each branch went to, and where that differs from the EndpointSlices. Where the
// proxy works outside netfilter (ipvs), the processor translates and the hooks then see the
// translated packet. Either way each packet is translated once.

// serviceLeg is one branch of a packet through the service proxy's hooks.
type serviceLeg struct {
	// hop carries the packet as it leaves the hooks.
	hop   *Hop
	entry nf.Outcome
	// next is the outcome of the hook the route took the packet to after PREROUTING
	// (nextHook), nil for OUTPUT or a branch that stopped in PREROUTING.
	next     *nf.Outcome
	nextHook nf.Hook
	out      string
	route    netstack.RouteResult
	local    bool
	// ended is set when the branch already ended on the way (no route).
	ended bool
}

// serviceArrival returns the packet as this node's service proxy meets it, when it is
// addressed to a service and the node's state was collected.
func (p *Pipeline) serviceArrival(h *Hop, iif string) (service.Arrival, bool) {
	if p.Pod != nil || h.Env.Services == nil || h.Stack == nil || h.Reply != "" {
		return service.Arrival{}, false
	}
	a := service.Arrival{Node: p.Node, Stack: h.Stack, Packet: h.Packet, InInterface: iif, Origin: service.FromOutside}
	switch {
	case h.In == nil:
		a.Origin = service.FromHost
	case h.In.From != nil && h.In.From.Type == model.NetNodePod && h.In.From.Node == p.Node:
		a.Origin = service.FromPod
	}
	return a, service.Addressed(h.Env.Cluster, a)
}

// inNetfilter reports whether the node's service proxy is its netfilter rules.
func inNetfilter(stack *netstack.Netstack) bool {
	switch service.DetectMode(stack) {
	case service.ModeIPTables, service.ModeNFTables, service.ModeNone:
		return true
	}
	return false
}

// meetService runs a packet addressed to a service through the entry hook and, after
// PREROUTING, routes each branch and runs the hook the route takes it to; the service
// processor explains the passes, the branches the rules stop end here with its findings,
// and the branches that go on are returned.
func (p *Pipeline) meetService(h *Hop, a service.Arrival, hook nf.Hook, in, out string) []serviceLeg {
	if p.replacedProxy(h) {
		return nil
	}
	// The proxy's explanation goes before the routing of the translated branches.
	mark := len(h.res.Steps)
	var legs []serviceLeg
	for _, o := range p.Evaluate(h, hook, in, out) {
		l := serviceLeg{hop: h.After(&o), entry: o}
		if hook != nf.PreRouting || o.Verdict != nf.Accept || h.Env.Samples.Skips(l.hop.Packet.Dst) {
			// A leg a large service's sample leaves out is explained with the others (the
			// rules translate to it) and not routed on.
			legs = append(legs, l)
			continue
		}
		r, ok := p.Route(l.hop, routeQuery(l.hop.Packet, in))
		if !ok {
			l.ended = true
			legs = append(legs, l)
			continue
		}
		l.route, l.local = r, r.Type == netstack.RouteLocal
		l.nextHook, l.out = nf.Forward, r.Device
		if l.local {
			l.nextHook, l.out = nf.Input, ""
		}
		for _, f := range p.Evaluate(l.hop, l.nextHook, in, l.out) {
			lf := l
			lf.next, lf.hop = &f, h.After(&f)
			legs = append(legs, lf)
		}
	}
	passes := make([]service.Pass, len(legs))
	for i, l := range legs {
		passes[i] = service.Pass{Entry: l.entry, Next: l.next}
	}
	res, err := service.Explain(h.Env.Cluster, a, p.rules(h), passes)
	if err != nil {
		h.Suspectf(model.Info, model.ReasonPluginUnknown, "", "", "The service proxy of %s could not be explained: %v", p.NetNode.Name, err)
		res = &service.Result{}
	}
	for _, s := range res.Suspicions {
		h.Suspect(s)
	}
	explained := make([]bool, len(legs))
	var steps []model.Step
	for _, br := range res.Branches {
		l := legs[br.Pass]
		if h.Env.Samples.Skips(l.hop.Packet.Dst) {
			// Not followed: its explanation would only weigh on the branches that are.
			continue
		}
		steps = append(steps, br.Steps...)
		for _, s := range br.Suspicions {
			l.hop.Suspect(s)
		}
		explained[br.Pass] = Blocking(br.Suspicions) > 0 || Blocking(res.Suspicions) > 0
	}
	h.res.Steps = slices.Insert(h.res.Steps, mark, steps...)
	var goOn []serviceLeg
	for i, l := range legs {
		if l.ended || h.Env.Samples.Skips(l.hop.Packet.Dst) {
			// A branch to an endpoint a large service's sample leaves out is not followed;
			// the answer counts it.
			continue
		}
		last, lastHook, lastOut := &l.entry, hook, out
		p.uncertain(l.hop, hook, last)
		if l.next != nil {
			last, lastHook, lastOut = l.next, l.nextHook, l.out
			p.uncertain(l.hop, l.nextHook, last)
		}
		switch {
		case last.Verdict == nf.Accept:
			goOn = append(goOn, l)
		case last.Verdict == nf.Unknown:
			// The processor said which rule it does not understand.
			l.hop.Step("netfilter", lastHook.String()+" UNKNOWN", Decider(last))
			l.hop.end(Undecided, "a rule of "+p.NetNode.Name+" is not understood")
		case explained[i]:
			if p.Ext.ExplainDrop != nil && last.Verdict != nf.Accept {
				// The proxy's account says a rule not kube-proxy's stopped the packet; the
				// plugin names what that rule enforces (a preDNAT policy on the node's own
				// interface, say), as it does for a drop in any other hook.
				p.Ext.ExplainDrop(l.hop, lastHook, last)
			}
			verb := strings.ToLower(VerdictWord(last.Verdict)) + "s"
			l.hop.Step("netfilter", lastHook.String()+" "+VerdictWord(last.Verdict), Decider(last))
			l.hop.end(Dropped, "the service proxy of "+p.NetNode.Name+" "+verb+" it")
		default:
			p.settle(l.hop, lastHook, in, lastOut, last)
		}
	}
	return goOn
}

// rules returns the hop's parsed netfilter rules, nil when they cannot be read.
func (p *Pipeline) rules(h *Hop) *netfilter.Rules {
	filter, err := h.Env.Filter(h.Stack)
	if err != nil || filter == nil {
		return nil
	}
	r, _ := filter.(*netfilter.Rules)
	return r
}

// proxyService hands a packet addressed to a service to a proxy outside netfilter (ipvs):
// the processor translates it, and the hops that go on carry the translated packets.
func (p *Pipeline) proxyService(h *Hop, a service.Arrival) []*Hop {
	if p.replacedProxy(h) {
		return nil
	}
	res, err := h.Env.Services.Process(h.Env.Cluster, a)
	if err != nil {
		h.Suspectf(model.Info, model.ReasonPluginUnknown, "", "", "The service proxy of %s could not be followed: %v", p.NetNode.Name, err)
		return []*Hop{h}
	}
	for _, s := range res.Suspicions {
		h.Suspect(s)
	}
	var goOn []*Hop
	for _, br := range res.Branches {
		if br.Outcome == service.Translated && h.Env.Samples.Skips(br.Packet.Dst) {
			continue
		}
		hb := h.With(br.Packet)
		if br.Outcome == service.Translated {
			// The proxy's translation is the connection's: conntrack reverses it on the
			// reply, at the nat stage of the hooks the reply passes here.
			dnat(&hb.Conn, h.Packet, br.Packet)
		}
		hb.res.Steps = append(hb.res.Steps, br.Steps...)
		for _, s := range br.Suspicions {
			hb.Suspect(s)
		}
		switch br.Outcome {
		case service.Translated, service.Untranslated:
			goOn = append(goOn, hb)
		case service.Undecided:
			hb.end(Undecided, "the service proxy of "+p.NetNode.Name+" is not simulated")
		default:
			if Blocking(br.Suspicions)+Blocking(res.Suspicions) == 0 {
				hb.Suspectf(model.Critical, model.ReasonIPTablesDrop, "", br.Rule, "The service proxy of %s stops the packet: %s", p.NetNode.Name, br.Rule)
			}
			hb.end(Dropped, "the service proxy of "+p.NetNode.Name+" stops it")
		}
	}
	return goOn
}

// dnat records in a connection that a proxy outside netfilter translated the packet from
// before to after, as ipvs does with conntrack on (kube-proxy turns net.ipv4.vs.conntrack on).
func dnat(c *nf.Conn, before, after model.Packet) {
	if before.Dst == after.Dst && before.DstPort == after.DstPort {
		return
	}
	if !c.OrigSrc.IsValid() {
		c.OrigSrc = netip.AddrPortFrom(before.Src, before.SrcPort)
		c.OrigDst = netip.AddrPortFrom(before.Dst, before.DstPort)
	}
	c.Status |= nf.StatusDNAT | nf.StatusDstNATDone
}
