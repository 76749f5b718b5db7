package plugin

import (
	"fmt"
	"hash/maphash"
	"strings"
	"sync"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/iptables"
)

// IPTablesFactory builds the evaluator of a namespace's iptables rules (and the ipsets they
// read), parsed once per namespace and diagnosis.
var IPTablesFactory NetfilterFactory = newIPTablesFilter

type iptablesFilter struct {
	rs  *iptables.Ruleset
	env *iptables.Env
}

// rulesets caches parsed rulesets by a hash and the length of their text: kube-proxy writes nearly the
// same rules on every node and they change seldom, so a controller running many diagnoses
// parses each distinct ruleset once. The parsed ruleset is only read by evaluations.
var rulesets = struct {
	sync.Mutex
	byHash map[rulesetKey]*iptables.Ruleset
	order  []rulesetKey
}{byHash: map[rulesetKey]*iptables.Ruleset{}}

// rulesetCacheSize bounds the cache: a 100,000-rule ruleset takes tens of MB parsed.
const rulesetCacheSize = 8

// ResetRulesetCache forgets every parsed ruleset.
func ResetRulesetCache() {
	rulesets.Lock()
	defer rulesets.Unlock()
	clear(rulesets.byHash)
	rulesets.order = nil
}

// rulesetKey identifies a ruleset text: maphash reads a 100,000-rule text in a few
// milliseconds, where a cryptographic hash would cost as much as a good part of parsing it.
type rulesetKey struct {
	hash uint64
	size int
}

var rulesetSeed = maphash.MakeSeed()

func parseRuleset(text string) (*iptables.Ruleset, error) {
	sum := rulesetKey{maphash.String(rulesetSeed, text), len(text)}
	rulesets.Lock()
	rs, ok := rulesets.byHash[sum]
	rulesets.Unlock()
	if ok {
		return rs, nil
	}
	rs, err := iptables.Parse(text)
	if err != nil {
		return nil, err
	}
	rulesets.Lock()
	defer rulesets.Unlock()
	if _, ok := rulesets.byHash[sum]; !ok {
		if len(rulesets.order) == rulesetCacheSize {
			delete(rulesets.byHash, rulesets.order[0])
			rulesets.order = rulesets.order[1:]
		}
		rulesets.byHash[sum] = rs
		rulesets.order = append(rulesets.order, sum)
	}
	return rs, nil
}

func newIPTablesFilter(stack *netstack.Netstack) (Netfilter, error) {
	rs, err := parseRuleset(stack.IPTables)
	if err != nil {
		return nil, fmt.Errorf("parse iptables-save: %w", err)
	}
	env, err := iptables.EnvFromNetstack(stack)
	if err != nil {
		return nil, fmt.Errorf("evaluation environment: %w", err)
	}
	return &iptablesFilter{rs: rs, env: env}, nil
}

// Ruleset returns the parsed rules, for the service processor's evidence.
func (f *iptablesFilter) Ruleset() *iptables.Ruleset { return f.rs }

var hooks = map[string]iptables.Hook{
	HookPrerouting:  iptables.PreRouting,
	HookInput:       iptables.Input,
	HookForward:     iptables.Forward,
	HookOutput:      iptables.Output,
	HookPostrouting: iptables.PostRouting,
}

// Hook runs pkt through the hook's tables.
func (f *iptablesFilter) Hook(hook string, pkt model.Packet, in, out string, state ConnState) []NFOutcome {
	h, ok := hooks[hook]
	if !ok {
		return []NFOutcome{{Verdict: NFUnknown, Packet: pkt, Rule: "unknown hook " + hook, Probability: 1}}
	}
	p := iptables.FromModel(pkt)
	p.In, p.Out = in, out
	if state == ConnEstablished {
		// The reply of a connection the forward packet opened.
		p.Conn.State, p.Conn.Reply = iptables.CtEstablished, true
		p.Conn.Status |= iptables.StatusSeenReply | iptables.StatusConfirmed
	}
	outs := f.rs.Traverse(h, p, f.env)
	res := make([]NFOutcome, 0, len(outs))
	for i, o := range outs {
		n := NFOutcome{Packet: o.Packet.Model(), Probability: o.Probability, Eval: &outs[i]}
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
		case o.Undecided != nil:
			n.Rule = o.Undecided.String()
		case o.Decider != nil:
			n.Rule = o.Decider.String()
		case len(o.NAT) > 0 && o.NAT[len(o.NAT)-1].Rule != nil:
			n.Rule = o.NAT[len(o.NAT)-1].Rule.String()
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
		if len(o.NAT) > 0 {
			var parts []string
			for _, x := range o.NAT {
				parts = append(parts, fmt.Sprintf("%s %s -> %s", x.Kind, x.Before, x.After))
			}
			n.Trace = append(n.Trace, strings.Join(parts, ", "))
		}
		res = append(res, n)
	}
	return res
}
