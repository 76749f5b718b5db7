package plugin

import (
	"hash/maphash"
	"sync"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/iptables"
	"github.com/netdiag/netdiag/internal/netstack/netfilter"
	"github.com/netdiag/netdiag/internal/netstack/nf"
	"github.com/netdiag/netdiag/internal/netstack/nftables"
)

// NetfilterRules builds the evaluator of a namespace's netfilter rules: its iptables tables
// (and the ipsets they read) and its nftables ruleset, each parsed once per content.
var NetfilterRules NetfilterFactory = newNetfilter

// nfFilter is a namespace's rules, both rulesets in the kernel's order.
type nfFilter struct {
	rules *netfilter.Rules
}

// parsedCache caches parsed rulesets by a hash and the length of their text: kube-proxy
// writes nearly the same rules on every node and they change seldom, so a controller running
// many diagnoses parses each distinct ruleset once. A parsed ruleset is only read by
// evaluations.
type parsedCache[T any] struct {
	mu     sync.Mutex
	byHash map[rulesetKey]T
	order  []rulesetKey
}

// rulesetCacheSize bounds each cache: a 100,000-rule ruleset takes tens of MB parsed.
const rulesetCacheSize = 8

var (
	iptCache = &parsedCache[*iptables.Ruleset]{byHash: map[rulesetKey]*iptables.Ruleset{}}
	nftCache = &parsedCache[*nftables.Ruleset]{byHash: map[rulesetKey]*nftables.Ruleset{}}
)

// ResetRulesetCache forgets every parsed ruleset.
func ResetRulesetCache() {
	iptCache.reset()
	nftCache.reset()
}

func (c *parsedCache[T]) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.byHash)
	c.order = nil
}

// rulesetKey identifies a ruleset text: maphash reads a 100,000-rule text in a few
// milliseconds, where a cryptographic hash would cost as much as a good part of parsing it.
type rulesetKey struct {
	hash uint64
	size int
}

var rulesetSeed = maphash.MakeSeed()

func (c *parsedCache[T]) get(text string, parse func(string) (T, error)) (T, error) {
	key := rulesetKey{maphash.String(rulesetSeed, text), len(text)}
	c.mu.Lock()
	v, ok := c.byHash[key]
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := parse(text)
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byHash[key]; !ok {
		if len(c.order) == rulesetCacheSize {
			delete(c.byHash, c.order[0])
			c.order = c.order[1:]
		}
		c.byHash[key] = v
		c.order = append(c.order, key)
	}
	return v, nil
}

func newNetfilter(stack *netstack.Netstack) (Netfilter, error) {
	rules, err := netfilter.FromNetstack(stack, netfilter.Parsers{
		IPTables: func(text string) (*iptables.Ruleset, error) { return iptCache.get(text, iptables.Parse) },
		NFTables: func(text string) (*nftables.Ruleset, error) { return nftCache.get(text, nftables.Parse) },
	})
	if err != nil {
		return nil, err
	}
	return &nfFilter{rules: rules}, nil
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
