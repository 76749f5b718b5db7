package nftables

import (
	"fmt"

	"github.com/netdiag/netdiag/internal/netstack/iptables"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// Hook names as nft writes them, by the evaluator's hooks.
var hookNames = map[nf.Hook]string{
	nf.PreRouting: "prerouting", nf.Input: "input", nf.Forward: "forward",
	nf.Output: "output", nf.PostRouting: "postrouting",
}

// Traverse evaluates a packet through every IPv4 base chain (families ip and inet) of a
// hook in priority order. The nat chains run together at the kernel's nat priority, for a
// connection's first packet only, until one of them translates. skip, when not nil, leaves
// out tables (e.g. those iptables-nft manages, which the iptables evaluator reads from
// iptables-save).
func (rs *Ruleset) Traverse(hook nf.Hook, pkt nf.Packet, env *iptables.Env, skip func(t *Table) bool) []nf.Outcome {
	return rs.traverse(hook, pkt, env, func(c *Chain) bool { return skip == nil || !skip(c.Table) }, true)
}

// TraverseChains is Traverse through the base chains keep accepts only: a caller that
// interleaves these chains with another ruleset's by priority walks the hook one stage at a
// time, carrying the packet and its connection between them. The nat stage, where conntrack
// also reverses a reply's NAT, is part of the walk only when keep accepts a nat chain.
func (rs *Ruleset) TraverseChains(hook nf.Hook, pkt nf.Packet, env *iptables.Env, keep func(c *Chain) bool) []nf.Outcome {
	return rs.traverse(hook, pkt, env, keep, false)
}

// BaseChains lists the IPv4 base chains (families ip and inet) of a hook in priority order.
func (rs *Ruleset) BaseChains(hook nf.Hook) []*Chain { return rs.baseChains(hookNames[hook]) }

func (rs *Ruleset) traverse(hook nf.Hook, pkt nf.Packet, env *iptables.Env, keep func(c *Chain) bool, natStage bool) []nf.Outcome {
	w := &walker{rs: rs, env: env, hook: hook, steps: 1_000_000, maxOut: 4096}
	if env != nil && env.MaxSteps > 0 {
		w.steps = env.MaxSteps
	}
	if env != nil && env.MaxOutcomes > 0 {
		w.maxOut = env.MaxOutcomes
	}
	natPrio := -100
	if hook.SourceNAT() {
		natPrio = 100
	}
	for _, c := range rs.baseChains(hookNames[hook]) {
		if !keep(c) {
			continue
		}
		if c.Type == "nat" {
			w.nat = append(w.nat, c)
			continue
		}
		w.chains = append(w.chains, c)
	}
	// The nat chains run at the nat core's priority: put a marker there. Forward has no
	// nat stage; at the others conntrack also reverses a reply's NAT.
	if hook != nf.Forward && (natStage || len(w.nat) > 0) {
		at := len(w.chains)
		for i, c := range w.chains {
			if c.Prio > natPrio {
				at = i
				break
			}
		}
		w.chains = append(w.chains[:at], append([]*Chain{nil}, w.chains[at:]...)...)
	}
	w.queue = append(w.queue, &state{pkt: pkt, prob: 1, base: -1})
	for len(w.queue) > 0 {
		s := w.queue[len(w.queue)-1]
		w.queue = w.queue[:len(w.queue)-1]
		w.run(s)
	}
	return w.out
}

type frame struct {
	chain *Chain
	pos   int
}

type state struct {
	pkt nf.Packet
	// base indexes walker.chains; natIdx walks the nat chains at the nat marker.
	base, natIdx int
	inNat        bool
	cur          frame
	stack        []frame
	o            nf.Outcome
	prob         float64
	// ngRule and ngValue pin the numgen of one rule to a branch.
	ngRule  *Rule
	ngValue uint64
}

func (s *state) clone() *state {
	c := *s
	c.stack = append([]frame(nil), s.stack...)
	c.o.Trace = s.o.Trace[:len(s.o.Trace):len(s.o.Trace)]
	c.o.NAT = s.o.NAT[:len(s.o.NAT):len(s.o.NAT)]
	c.o.Uncertain = s.o.Uncertain[:len(s.o.Uncertain):len(s.o.Uncertain)]
	return &c
}

type walker struct {
	rs     *Ruleset
	env    *iptables.Env
	hook   nf.Hook
	chains []*Chain // nil marks the nat chains' place
	nat    []*Chain
	queue  []*state
	out    []nf.Outcome
	steps  int
	maxOut int
}

func (w *walker) finish(s *state, v nf.Verdict) {
	s.o.Verdict, s.o.Packet, s.o.Probability = v, s.pkt, s.prob
	if v != nf.Accept {
		s.o.Ruleset = nf.NFTables
	}
	w.out = append(w.out, s.o)
}

func (w *walker) unknown(s *state, r *Rule, note string) {
	if r != nil {
		s.o.Undecided = r
	}
	s.o.Note = note
	w.finish(s, nf.Unknown)
}

// enter moves to the next base chain that applies; false when the hook is done.
func (w *walker) enter(s *state) bool {
	if s.inNat {
		// After an accepting nat chain the next one runs, unless this one translated.
		done := w.hook.NATDone()
		if s.pkt.Conn.Status&natTranslated(w.hook) == 0 && s.natIdx+1 < len(w.nat) {
			s.natIdx++
			s.cur, s.stack = frame{chain: w.nat[s.natIdx]}, s.stack[:0]
			return true
		}
		s.pkt.Conn.Status |= done
		s.inNat = false
	}
	for s.base++; s.base < len(w.chains); s.base++ {
		c := w.chains[s.base]
		if c == nil {
			if nf.UnNAT(w.hook, &s.pkt, &s.o) || len(w.nat) == 0 {
				continue
			}
			done := w.hook.NATDone()
			if s.pkt.Conn.State != nf.CtNew || s.pkt.Conn.Status&(done|nf.StatusConfirmed) != 0 {
				continue
			}
			s.inNat, s.natIdx = true, 0
			s.cur, s.stack = frame{chain: w.nat[0]}, s.stack[:0]
			return true
		}
		s.cur, s.stack = frame{chain: c}, s.stack[:0]
		return true
	}
	return false
}

// natTranslated is the status bit a nat statement at the hook sets.
func natTranslated(h nf.Hook) nf.CtStatus {
	if h.SourceNAT() {
		return natSrcSetUp
	}
	return natDstSetUp
}

// natSrcSetUp and natDstSetUp record that a nat statement ran (even one that changed
// nothing), which ends the hook's nat chains as the kernel's nf_nat_initialized does.
const (
	natSrcSetUp nf.CtStatus = 1 << 14
	natDstSetUp nf.CtStatus = 1 << 15
)

func (w *walker) baseChain(s *state) *Chain {
	if s.inNat {
		return w.nat[s.natIdx]
	}
	return w.chains[s.base]
}

func (w *walker) run(s *state) {
	if s.base < 0 && !s.inNat && !w.enter(s) {
		w.finish(s, nf.Accept)
		return
	}
	for {
		if w.steps--; w.steps < 0 {
			w.unknown(s, nil, "the walk exceeded its step budget")
			return
		}
		c := s.cur.chain
		if s.cur.pos >= len(c.Rules) {
			if len(s.stack) > 0 {
				s.cur, s.stack = s.stack[len(s.stack)-1], s.stack[:len(s.stack)-1]
				continue
			}
			b := w.baseChain(s)
			policy := b.Policy
			if policy == "" {
				policy = "accept"
			}
			s.o.Trace = append(s.o.Trace, nf.Step{Ruleset: nf.NFTables, Table: b.Table.Name, Chain: b.Name, Action: "policy " + policy})
			if policy == "drop" {
				w.finish(s, nf.Drop)
				return
			}
			if !w.enter(s) {
				w.finish(s, nf.Accept)
				return
			}
			continue
		}
		r := c.Rules[s.cur.pos]
		snap := s.clone()
		s.cur.pos++
		if done := w.rule(s, snap, r); done {
			return
		}
	}
}

// rule evaluates one rule's statements; true when the state is finished (or replaced by
// its forks).
func (w *walker) rule(s, snap *state, r *Rule) bool {
	step := nf.Step{Ruleset: nf.NFTables, Table: r.Table, Chain: r.Chain, Rule: r, Action: "continue"}
	for i, st := range r.stmts {
		res := st.exec(w, s, r)
		switch res.outcome {
		case stMiss:
			return false
		case stFork:
			if len(w.out)+len(w.queue)+int(res.n) > w.maxOut {
				w.unknown(s, r, fmt.Sprintf("more than %d ways through the rules", w.maxOut))
				return true
			}
			for i := res.n; i > 0; i-- {
				c := snap.clone()
				c.ngRule, c.ngValue = r, i-1
				c.prob *= 1 / float64(res.n)
				w.queue = append(w.queue, c)
			}
			return true
		case stUnsure:
			return w.unsure(s, r, step, r.stmts[i+1:], res.note)
		case stUnknown:
			s.o.Trace = append(s.o.Trace, step)
			w.unknown(s, r, res.note)
			return true
		case stAction:
			step.Action = res.action
		case stVerdict:
			if res.action != "" {
				step.Action = res.action
			}
			s.o.Trace = append(s.o.Trace, step)
			return w.apply(s, r, res.v)
		case stDone:
			step.Action = res.action
			s.o.Trace = append(s.o.Trace, step)
			s.o.Decider = r
			if res.action == "reject" {
				s.o.RejectWith = res.note
				w.finish(s, nf.Reject)
			} else {
				w.finish(s, nf.Drop)
			}
			return true
		}
	}
	s.o.Trace = append(s.o.Trace, step)
	return false
}

// unsure settles a rule with a term not understood, as the iptables evaluator does: a
// known miss among the rule's other matches still misses; otherwise the rule may hold, and
// when the rest of it could act the outcome is Unknown, naming the rule, while a rule that
// could only count is passed and noted (Uncertain). true when the state is finished.
func (w *walker) unsure(s *state, r *Rule, step nf.Step, rest []statement, note string) bool {
	acts := false
	for _, st := range rest {
		if m, ok := st.(*matchStmt); ok {
			if m.exec(w, s, r).outcome == stMiss {
				return false
			}
			continue
		}
		acts = acts || st.acts()
	}
	if !acts {
		s.o.Uncertain = append(s.o.Uncertain, r)
		return false
	}
	s.o.Trace = append(s.o.Trace, step)
	w.unknown(s, r, note)
	return true
}

// apply carries out a verdict; true when the state is finished.
func (w *walker) apply(s *state, r *Rule, v verdict) bool {
	switch v.kind {
	case "accept":
		if !w.enter(s) {
			w.finish(s, nf.Accept)
			return true
		}
	case "drop":
		s.o.Decider = r
		w.finish(s, nf.Drop)
		return true
	case "return":
		if len(s.stack) == 0 {
			// Return from the base chain (or past a goto): the policy applies.
			s.cur = frame{chain: w.baseChain(s), pos: len(w.baseChain(s).Rules)}
		} else {
			s.cur, s.stack = s.stack[len(s.stack)-1], s.stack[:len(s.stack)-1]
		}
	case "jump", "goto":
		if v.chain == nil {
			w.unknown(s, r, "jump to a chain that is not in the ruleset: "+v.target)
			return true
		}
		if v.kind == "jump" {
			if len(s.stack) >= 64 {
				w.unknown(s, r, "jumps nested deeper than 64")
				return true
			}
			s.stack = append(s.stack, s.cur)
		}
		s.cur = frame{chain: v.chain}
	}
	return false
}
