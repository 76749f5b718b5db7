package hop

import (
	"strings"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack/iptables"
	"github.com/netdiag/netdiag/internal/netstack/netfilter"
)

// nfFilter is a namespace's rules, both rulesets in the kernel's order.
type nfFilter struct {
	rules *netfilter.Rules
}

// NewNetfilter is the hop's evaluator of a namespace's parsed rules.
func NewNetfilter(rules *netfilter.Rules) Netfilter { return &nfFilter{rules: rules} }

// Rules returns the parsed rules, for the service processor's evidence.
func (f *nfFilter) Rules() *netfilter.Rules { return f.rules }

var hooks = map[string]iptables.Hook{
	HookPrerouting:  iptables.PreRouting,
	HookInput:       iptables.Input,
	HookForward:     iptables.Forward,
	HookOutput:      iptables.Output,
	HookPostrouting: iptables.PostRouting,
}

// Hook runs pkt through the hook's stages of both rulesets.
func (f *nfFilter) Hook(hook string, pkt iptables.Packet) []NFOutcome {
	h, ok := hooks[hook]
	if !ok {
		return []NFOutcome{{Verdict: NFUnknown, Packet: pkt.Model(), NF: pkt, Rule: "unknown hook " + hook, Probability: 1}}
	}
	outs := f.rules.Traverse(h, pkt)
	res := make([]NFOutcome, 0, len(outs))
	for i := range outs {
		res = append(res, nfOutcome(&outs[i]))
	}
	return res
}

// nfOutcome is the hop's view of one way through a hook.
func nfOutcome(o *netfilter.Outcome) NFOutcome {
	n := NFOutcome{Packet: o.Packet.Model(), NF: o.Packet, Probability: o.Probability, Ruleset: o.Ruleset, Eval: o}
	switch o.Verdict {
	case iptables.Accept:
		n.Verdict = NFAccept
	case iptables.Drop:
		n.Verdict = NFDrop
	case iptables.Reject:
		n.Verdict = NFReject
	default:
		n.Verdict = NFUnknown
	}
	switch {
	case !o.Undecided.IsZero():
		n.Rule = o.Undecided.String()
		n.Chain = o.Undecided.Table() + "/" + o.Undecided.Chain()
	case !o.Decider.IsZero():
		n.Rule = o.Decider.String()
		n.Chain = o.Decider.Table() + "/" + o.Decider.Chain()
	case o.Verdict == iptables.Drop && len(o.Trace) > 0:
		// A base chain's policy dropped it: name the chain.
		last := o.Trace[len(o.Trace)-1]
		n.Rule, n.Chain = last.String(), last.Table+"/"+last.Chain
	case o.LastNAT() != nil:
		n.Rule = o.LastNAT().Rule.String()
	}
	if n.Verdict == NFUnknown && n.Rule == "" {
		n.Rule = o.Note
	}
	for _, s := range o.Trace {
		if s.Action == "continue" {
			continue
		}
		n.Trace = append(n.Trace, s.String())
	}
	for _, r := range o.Uncertain {
		n.NotUnderstood = append(n.NotUnderstood, r.String())
	}
	var parts []string
	for _, x := range o.NAT {
		parts = append(parts, x.String())
	}
	if len(parts) > 0 {
		n.Trace = append(n.Trace, strings.Join(parts, ", "))
	}
	return n
}

// RulesetName is how a suspicion names the ruleset that stopped the packet.
func (o NFOutcome) RulesetName() string {
	if o.Ruleset == netfilter.NFTables {
		return "nftables"
	}
	return "iptables"
}

// DropReason is the code of a DROP by the outcome's ruleset.
func (o NFOutcome) DropReason() model.Reason {
	if o.Ruleset == netfilter.NFTables {
		return model.ReasonNFTablesDrop
	}
	return model.ReasonIPTablesDrop
}

// RejectReason is the code of a REJECT by the outcome's ruleset.
func (o NFOutcome) RejectReason() model.Reason {
	if o.Ruleset == netfilter.NFTables {
		return model.ReasonNFTablesReject
	}
	return model.ReasonIPTablesReject
}
