package hop

import (
	"fmt"
	"strings"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// The netfilter stages: the hooks a packet passes on its way through the NetNode, in the
// kernel's order. A hook returns the branches that go on (a load-balancing rule forks one
// per endpoint); the branches it stops are recorded with the rule that decided.

// prerouting runs a received packet through PREROUTING (where a service address meets the
// proxy), routes each branch and continues to INPUT or FORWARD.
func (p *Pipeline) prerouting(h *Hop, iif string) {
	hs := []*Hop{h}
	if a, ok := p.serviceArrival(h, iif); ok {
		if inNetfilter(h.Stack) {
			for _, l := range p.meetService(h, a, nf.PreRouting, iif, "") {
				if l.local {
					p.deliver(l.hop)
				} else {
					p.postrouting(l.hop, l.route, iif)
				}
			}
			return
		}
		hs = p.proxyService(h, a)
	}
	for _, hh := range hs {
		for _, o := range p.hook(hh, nf.PreRouting, iif, "") {
			hb := hh.After(&o)
			r, ok := p.Route(hb, routeQuery(hb.Packet, iif))
			if !ok {
				continue
			}
			p.routed(hb, r, iif)
		}
	}
}

// output runs a locally sent packet through OUTPUT (where a service address meets the
// proxy) and returns the branches that go on.
func (p *Pipeline) output(h *Hop, dev string) []*Hop {
	var sent []*Hop
	if a, ok := p.serviceArrival(h, ""); ok && inNetfilter(h.Stack) {
		for _, l := range p.meetService(h, a, nf.Output, "", dev) {
			sent = append(sent, l.hop)
		}
		return sent
	} else if ok {
		for _, hh := range p.proxyService(h, a) {
			sent = append(sent, p.through(hh, nf.Output, "", dev)...)
		}
		return sent
	}
	return p.through(h, nf.Output, "", dev)
}

// through runs h through one hook and returns the hops of the branches that go on.
func (p *Pipeline) through(h *Hop, hook nf.Hook, in, out string) []*Hop {
	var goOn []*Hop
	for _, o := range p.hook(h, hook, in, out) {
		goOn = append(goOn, h.After(&o))
	}
	return goOn
}

// input runs a packet for this NetNode through INPUT to its sockets.
func (p *Pipeline) input(h *Hop, iif string) {
	for _, hb := range p.through(h, nf.Input, iif, "") {
		p.deliver(hb)
	}
}

// loopback takes a packet to an address of this namespace back in through lo; with lo down
// the kernel still routes it there and it is lost.
func (p *Pipeline) loopback(h *Hop) {
	if lo := h.Interface("lo"); lo != nil && !lo.Up {
		h.drop(model.ReasonInterfaceDown, "lo", "", "lo is down",
			"The packet to %s, an address of %s itself, loops back through lo, which is down: bring it up (ip link set lo up)", h.Packet.Dst, p.NetNode.Name)
		return
	}
	p.input(h, "lo")
}

// hook runs the packet through a netfilter hook and returns the branches that go on; the
// branches that end are recorded.
func (p *Pipeline) hook(h *Hop, hook nf.Hook, in, out string) []nf.Outcome {
	outs := p.Evaluate(h, hook, in, out)
	goOn := outs[:0]
	for _, o := range outs {
		if p.settle(h, hook, in, out, &o) == Continue {
			goOn = append(goOn, o)
		}
	}
	return goOn
}

// Evaluate runs the packet through a netfilter hook and returns every way it goes, stopped
// or not. The hook is evaluated even in a namespace without rules: conntrack's reversal of a
// reply's NAT happens in the evaluator's nat stage. Rules that cannot be read make the hook
// Unknown, with an Info: they may decide, so the packet is not assumed through.
func (p *Pipeline) Evaluate(h *Hop, hook nf.Hook, in, out string) []nf.Outcome {
	pkt := h.NFPacket(in, out)
	filter, err := h.Env.Filter(h.Stack)
	if err != nil {
		h.Suspectf(model.Info, model.ReasonRuleNotUnderstood, "", "", "The netfilter rules of %s could not be read (%v), so whether they let the packet through %s is not known", p.NetNode.Name, err, hook)
		return []nf.Outcome{{Verdict: nf.Unknown, Packet: pkt, Note: "unreadable rules: " + err.Error(), Probability: 1}}
	}
	if filter == nil {
		if h.Stack.IPTables != "" || h.Stack.NFTables != "" {
			h.Suspectf(model.Info, model.ReasonRuleNotUnderstood, "", "", "The netfilter rules of %s are not evaluated in this build", p.NetNode.Name)
		}
		return []nf.Outcome{nf.PassThrough(pkt)}
	}
	if h.Env.announce(h.Stack) {
		p.notUnderstood(h, filter)
	}
	return filter.Traverse(hook, pkt)
}

// maxNotUnderstood bounds the rules of one namespace named one by one; the rest are counted.
const maxNotUnderstood = 10

// notUnderstood records, once per namespace, the rules its parser could not turn into
// something the evaluator applies. They are the diagnosis's, not the branch's: a rule no
// packet reaches decides nothing, and one a packet reaches says so on its branch.
func (p *Pipeline) notUnderstood(h *Hop, filter Netfilter) {
	parsed, ok := filter.(interface{ NotUnderstood() []nf.Rule })
	if !ok {
		return
	}
	rules := parsed.NotUnderstood()
	note := func(rule, format string, args ...any) {
		h.Env.note(model.Suspicion{Level: model.Info, Reason: model.ReasonRuleNotUnderstood, Node: h.Node, Pod: h.podName(), Rule: rule, Message: fmt.Sprintf(format, args...)})
	}
	for i, r := range rules {
		if i == maxNotUnderstood {
			note("", "%d more rules of %s are not understood", len(rules)-i, p.NetNode.Name)
			return
		}
		note(r.String(), "An %s rule of %s uses a match or statement the engine does not understand: where it could decide, the verdict is Unknown", r.Ruleset(), p.NetNode.Name)
	}
}

// uncertain reports the rules on an outcome's way that the evaluator passed without
// understanding them.
func (p *Pipeline) uncertain(h *Hop, hook nf.Hook, o *nf.Outcome) {
	for _, r := range o.Uncertain {
		h.Suspectf(model.Info, model.ReasonRuleNotUnderstood, "", r.String(), "A rule of %s in %s uses a match or target the engine does not understand; it was not applied", p.NetNode.Name, hook)
	}
}

// settle records what one outcome of a hook means for its branch (before is the hop as the
// packet entered the hook): Continue, or Drop when the hook stopped it or cannot be decided.
func (p *Pipeline) settle(before *Hop, hook nf.Hook, in, out string, o *nf.Outcome) Action {
	h := before.After(o)
	p.uncertain(h, hook, o)
	iface := in
	if iface == "" {
		iface = out
	}
	rule := Decider(o)
	switch o.Verdict {
	case nf.Accept:
		if h.Packet == before.Packet {
			return Continue
		}
		if rev := o.Reversals(); rev != "" {
			// A reply: the connection's NAT undone, not a rule's.
			h.Step("conntrack", hook.String()+" "+rev, "")
			return Continue
		}
		h.Step("netfilter", hook.String()+" "+natAction(before.Packet, h.Packet), rule)
		return Continue
	case nf.Drop:
		h.Step(RulesetName(o), hook.String()+" DROP", rule)
		h.drop(DropReason(o), iface, rule, RulesetName(o)+" "+hook.String()+" drops it", "%s", p.dropMessage(h, hook, o, "drops"))
	case nf.Reject:
		h.Step(RulesetName(o), hook.String()+" REJECT", rule)
		h.drop(RejectReason(o), iface, rule, RulesetName(o)+" "+hook.String()+" rejects it", "%s", p.dropMessage(h, hook, o, "rejects"))
	default:
		h.Step("netfilter", hook.String()+" UNKNOWN", rule)
		h.Suspectf(model.Info, model.ReasonRuleNotUnderstood, "", rule, "Whether %s lets the packet through %s depends on a rule the engine does not understand", p.NetNode.Name, hook)
		h.end(Undecided, "a rule of "+p.NetNode.Name+" is not understood")
	}
	return Drop
}

// dropMessage says which rule stopped the packet: in the plugin's words when its explainer
// knows the rule, else the ruleset's, hook's and chain's.
func (p *Pipeline) dropMessage(h *Hop, hook nf.Hook, o *nf.Outcome, verb string) string {
	if p.Ext.ExplainDrop != nil {
		if m := p.Ext.ExplainDrop(h, hook, o); m != "" {
			return m
		}
	}
	_, chain := o.Deciding()
	return "An " + RulesetName(o) + " rule of " + p.NetNode.Name + " " + verb + " the packet in " + hook.String() + " (chain " + chain + "): " + traceText(o)
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
