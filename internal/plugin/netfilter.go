package plugin

import (
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/netfilter"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// nfFilter is a namespace's rules, both rulesets in the kernel's order.
type nfFilter struct {
	rules *netfilter.Rules
}

// NewNetfilterFactory builds the evaluators of namespaces' netfilter rules (their iptables
// tables, the ipsets they read, and their nftables ruleset) with the rulesets parsed once
// per content in c, which whoever runs the diagnoses owns; a nil c parses every namespace's.
func NewNetfilterFactory(c *netfilter.Cache) NetfilterFactory {
	return func(stack *netstack.Netstack) (Netfilter, error) {
		rules, err := c.FromNetstack(stack)
		if err != nil {
			return nil, err
		}
		return &nfFilter{rules: rules}, nil
	}
}

// Rules returns the parsed rules, for the service processor's evidence.
func (f *nfFilter) Rules() *netfilter.Rules { return f.rules }

var hooks = map[string]nf.Hook{
	HookPrerouting:  nf.PreRouting,
	HookInput:       nf.Input,
	HookForward:     nf.Forward,
	HookOutput:      nf.Output,
	HookPostrouting: nf.PostRouting,
}

// Hook runs pkt through the hook's stages of both rulesets.
func (f *nfFilter) Hook(hook string, pkt nf.Packet) []NFOutcome {
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

// nfOutcome is the hop's view of one way through a hook, read from the evaluators' own
// outcome in one place.
func nfOutcome(o *nf.Outcome) NFOutcome {
	n := NFOutcome{Packet: o.Packet.Model(), NF: o.Packet, Probability: o.Probability, Ruleset: o.Ruleset, Eval: o}
	switch o.Verdict {
	case nf.Accept:
		n.Verdict = NFAccept
	case nf.Drop:
		n.Verdict = NFDrop
	case nf.Reject:
		n.Verdict = NFReject
	default:
		n.Verdict = NFUnknown
	}
	n.Rule, n.Chain = o.Deciding()
	n.Trace = o.TraceLines()
	n.NotUnderstood = o.NotUnderstood()
	return n
}

// RulesetName is how a suspicion names the ruleset that stopped the packet.
func (o NFOutcome) RulesetName() string {
	if o.Ruleset == nf.NFTables {
		return "nftables"
	}
	return "iptables"
}

// DropReason is the code of a DROP by the outcome's ruleset.
func (o NFOutcome) DropReason() model.Reason {
	if o.Ruleset == nf.NFTables {
		return model.ReasonNFTablesDrop
	}
	return model.ReasonIPTablesDrop
}

// RejectReason is the code of a REJECT by the outcome's ruleset.
func (o NFOutcome) RejectReason() model.Reason {
	if o.Ruleset == nf.NFTables {
		return model.ReasonNFTablesReject
	}
	return model.ReasonIPTablesReject
}
