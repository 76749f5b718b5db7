package iptables

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// hookTables lists the tables a hook passes, in the order of their priorities
// (raw -300, mangle -150, dnat -100, filter 0, security 50, snat 100).
var hookTables = map[nf.Hook][]string{
	nf.PreRouting:  {TableRaw, TableMangle, TableNAT},
	nf.Input:       {TableMangle, TableFilter, TableSecurity, TableNAT},
	nf.Forward:     {TableMangle, TableFilter, TableSecurity},
	nf.Output:      {TableRaw, TableMangle, TableNAT, TableFilter, TableSecurity},
	nf.PostRouting: {TableMangle, TableNAT},
}

const (
	defaultMaxOutcomes = 4096
	defaultMaxSteps    = 1_000_000
	defaultMaxDepth    = 64
)

// Traverse evaluates a packet through the tables of one hook in the kernel's order: raw,
// mangle, nat (only for a connection's first packet), filter and security, each table from
// the hook's built-in chain with jumps, gotos, RETURN and the policies. It returns one
// outcome per way the packet can go; statistic rules fork the walk, so a service with three
// endpoints gives three outcomes. An ACCEPT ends one table and the packet goes on to the
// next; DROP and REJECT end the hook. A missing table or chain is an empty one with policy
// ACCEPT, as in the kernel.
func (rs *Ruleset) Traverse(hook nf.Hook, pkt nf.Packet, env *Env) []nf.Outcome {
	return rs.TraverseTables(hook, pkt, env, hookTables[hook]...)
}

// HookTables lists the tables a hook passes, in the kernel's order.
func HookTables(hook nf.Hook) []string { return slices.Clone(hookTables[hook]) }

// TablePriority is the netfilter priority an iptables table registers its chains with (raw
// -300, mangle -150, nat -100 for the destination and 100 for the source, filter 0, security
// 50): where the tables stand among other rulesets' base chains on the same hook.
func TablePriority(hook nf.Hook, table string) int {
	switch table {
	case TableRaw:
		return -300
	case TableMangle:
		return -150
	case TableNAT:
		if hook.SourceNAT() {
			return 100
		}
		return -100
	case TableSecurity:
		return 50
	}
	return 0
}

// TraverseTables is Traverse through the named tables of the hook only, in the hook's order:
// a caller that interleaves iptables' tables with another ruleset's base chains by priority
// walks the hook one stage at a time, carrying the packet and its connection between them.
// The nat stage, where conntrack also reverses a reply's NAT, is walked only when TableNAT is
// named.
func (rs *Ruleset) TraverseTables(hook nf.Hook, pkt nf.Packet, env *Env, tables ...string) []nf.Outcome {
	w := walker{rs: rs, env: env, hook: hook, maxOut: defaultMaxOutcomes, steps: defaultMaxSteps, maxDepth: defaultMaxDepth,
		conntrack: rs.UsesConntrack() || env != nil && env.ConntrackInUse}
	if env != nil {
		if env.MaxOutcomes > 0 {
			w.maxOut = env.MaxOutcomes
		}
		if env.MaxSteps > 0 {
			w.steps = env.MaxSteps
		}
		if env.MaxDepth > 0 {
			w.maxDepth = env.MaxDepth
		}
	}
	for _, t := range hookTables[hook] {
		if !slices.Contains(tables, t) {
			continue
		}
		if rs == nil || rs.Tables[t] == nil || rs.Tables[t].Chains[hook.String()] == nil {
			if t == TableNAT {
				// The nat stage is there even without rules: conntrack reverses a reply's
				// NAT at it.
				w.tables = append(w.tables, nil)
			}
			continue
		}
		w.tables = append(w.tables, rs.Tables[t].Chains[hook.String()])
	}
	w.queue = append(w.queue, &state{pkt: pkt, prob: 1, table: -1})
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
	// inRaw holds the packet's connection while the raw table runs: raw comes before
	// conntrack, so there the packet has none (its state reads INVALID).
	inRaw *nf.Conn
	table int
	base  *Chain
	cur   frame
	stack []frame
	o     nf.Outcome
	prob  float64
}

func (s *state) clone() *state {
	c := *s
	c.stack = append([]frame(nil), s.stack...)
	c.o.Trace = s.o.Trace[:len(s.o.Trace):len(s.o.Trace)]
	c.o.NAT = s.o.NAT[:len(s.o.NAT):len(s.o.NAT)]
	c.o.Forks = s.o.Forks[:len(s.o.Forks):len(s.o.Forks)]
	c.o.Uncertain = s.o.Uncertain[:len(s.o.Uncertain):len(s.o.Uncertain)]
	return &c
}

type walker struct {
	rs       *Ruleset
	env      *Env
	hook     nf.Hook
	tables   []*Chain
	queue    []*state
	out      []nf.Outcome
	maxOut   int
	steps    int
	maxDepth int
	// conntrack is whether the namespace tracks connections.
	conntrack bool
}

func (w *walker) finish(s *state, v nf.Verdict, decider *Rule) {
	leaveRaw(s)
	s.o.Verdict, s.o.Packet, s.o.Probability = v, s.pkt, s.prob
	if decider != nil {
		s.o.Decider = decider
	}
	if v != nf.Accept {
		s.o.Ruleset = nf.IPTables
	}
	w.out = append(w.out, s.o)
}

func (w *walker) unknown(s *state, r *Rule, note string) {
	if r != nil {
		s.o.Undecided = r
	}
	s.o.Note = note
	w.finish(s, nf.Unknown, nil)
}

// leaveRaw gives the packet its connection back after the raw table, untracked when a
// NOTRACK rule said so.
func leaveRaw(s *state) {
	if s.inRaw == nil {
		return
	}
	conn := *s.inRaw
	if s.pkt.Conn.State == nf.CtUntracked {
		conn.State = nf.CtUntracked
	}
	s.pkt.Conn, s.inRaw = conn, nil
}

// nextTable moves the state to the next table of the hook that applies; false when none.
func (w *walker) nextTable(s *state) bool {
	leaveRaw(s)
	for s.table++; s.table < len(w.tables); s.table++ {
		c := w.tables[s.table]
		if c == nil || c.Table == TableNAT {
			if nf.UnNAT(w.hook, &s.pkt, &s.o) || c == nil {
				continue
			}
		}
		if c.Table == TableRaw && s.pkt.Conn.State != nf.CtUntracked {
			conn := s.pkt.Conn
			s.inRaw = &conn
			s.pkt.Conn = nf.Conn{State: nf.CtInvalid}
		}
		if c.Table == TableNAT {
			// Only a connection's first packet sees the nat table, once for the destination
			// and once for the source; later ones take the binding conntrack made, and an
			// untracked packet none at all.
			done := w.hook.NATDone()
			if s.pkt.Conn.State != nf.CtNew || s.pkt.Conn.Status&(nf.StatusConfirmed|done) != 0 || !w.conntrack {
				continue
			}
			s.pkt.Conn.Status |= done
		}
		s.base, s.cur, s.stack = c, frame{chain: c}, s.stack[:0]
		return true
	}
	return false
}

// run walks one state to its end, queueing the other ways of each statistic fork.
func (w *walker) run(s *state) {
	if s.table < 0 && !w.nextTable(s) {
		w.finish(s, nf.Accept, nil)
		return
	}
	for {
		if w.steps <= 0 {
			w.unknown(s, nil, "the walk exceeded its step budget (a loop of gotos?)")
			return
		}
		w.steps--
		c := s.cur.chain
		s.cur.pos = c.next(s.cur.pos, s.pkt.Dst)
		if s.cur.pos >= len(c.Rules) {
			if len(s.stack) > 0 {
				s.cur, s.stack = s.stack[len(s.stack)-1], s.stack[:len(s.stack)-1]
				continue
			}
			// The end of the base chain, or of a chain a goto left the base for: the policy.
			policy := s.base.Policy
			if policy == "" {
				policy = "ACCEPT"
			}
			s.o.Trace = append(s.o.Trace, nf.Step{Ruleset: nf.IPTables, Table: s.base.Table, Chain: s.base.Name, Action: "policy " + policy})
			switch policy {
			case "ACCEPT":
				if !w.nextTable(s) {
					w.finish(s, nf.Accept, nil)
					return
				}
				continue
			case "DROP":
				w.finish(s, nf.Drop, nil)
			default:
				s.o.Note = "policy " + policy
				w.finish(s, nf.Unknown, nil)
			}
			return
		}
		r := c.Rules[s.cur.pos]
		s.cur.pos++
		res, share := w.match(r, &s.pkt)
		switch res {
		case Miss:
			continue
		case Unsure:
			if effectless(r.Target) {
				s.o.Uncertain = append(s.o.Uncertain, r)
				continue
			}
			w.unknown(s, r, "a match of this rule is not understood: "+unknownText(r))
			return
		case Branch:
			if len(w.out)+len(w.queue) >= w.maxOut {
				w.unknown(s, r, fmt.Sprintf("more than %d ways through the rules", w.maxOut))
				return
			}
			other := s.clone()
			other.prob *= 1 - share
			w.queue = append(w.queue, other)
			s.prob *= share
			s.o.Forks = append(s.o.Forks, nf.Fork{Rule: r, Share: share})
		}
		if done := w.apply(s, r); done {
			return
		}
	}
}

// match evaluates a rule's header and matches. A known miss anywhere beats an unknown
// elsewhere, since a rule holds only when all its terms do.
func (w *walker) match(r *Rule, p *nf.Packet) (Result, float64) {
	if !r.Header.match(p) {
		return Miss, 0
	}
	res, share := Hit, 1.0
	for _, m := range r.Matches {
		switch m.Eval(p, w.env) {
		case Miss:
			return Miss, 0
		case Unsure:
			res = Unsure
		case Branch:
			share *= m.(*StatisticMatch).Share()
		}
	}
	if res == Hit && share < 1 {
		return Branch, share
	}
	return res, share
}

// effectless reports whether a rule's target leaves verdict and packet as they are.
func effectless(t Target) bool {
	switch t := t.(type) {
	case nil:
		return true
	case *ContinueTarget:
		return !t.NoTrack
	}
	return false
}

func unknownText(r *Rule) string {
	for _, m := range r.Matches {
		if u, ok := m.(*UnknownMatch); ok {
			return u.text + " (" + u.Reason + ")"
		}
	}
	for _, m := range r.Matches {
		if _, ok := m.(*SetMatch); ok {
			return m.String() + " (no such set in the snapshot)"
		}
	}
	return r.Text
}

// apply runs a matched rule's target; true when the state is finished.
func (w *walker) apply(s *state, r *Rule) bool {
	step := nf.Step{Ruleset: nf.IPTables, Table: r.Table, Chain: r.Chain, Rule: r, Action: "continue"}
	switch t := r.Target.(type) {
	case nil:
		s.o.Trace = append(s.o.Trace, step)
	case *VerdictTarget:
		step.Action = t.name
		s.o.Trace = append(s.o.Trace, step)
		switch t.name {
		case "ACCEPT":
			if !w.nextTable(s) {
				w.finish(s, nf.Accept, r)
				return true
			}
		case "DROP":
			w.finish(s, nf.Drop, r)
			return true
		case "RETURN":
			if len(s.stack) == 0 {
				// RETURN from the base chain (or past a goto's end): the policy applies.
				s.cur = frame{chain: s.base, pos: len(s.base.Rules)}
			} else {
				s.cur, s.stack = s.stack[len(s.stack)-1], s.stack[:len(s.stack)-1]
			}
		}
	case *RejectTarget:
		step.Action = "REJECT"
		s.o.Trace = append(s.o.Trace, step)
		s.o.RejectWith = t.With
		w.finish(s, nf.Reject, r)
		return true
	case *JumpTarget:
		next := w.rs.Tables[r.Table].Chains[t.Chain]
		if next == nil {
			step.Action = t.name
			s.o.Trace = append(s.o.Trace, step)
			w.unknown(s, r, "the target is not understood: "+t.text+" (neither a chain of table "+r.Table+" nor a known target)")
			return true
		}
		if r.Goto {
			step.Action = "goto " + t.Chain
			s.o.Trace = append(s.o.Trace, step)
			s.cur = frame{chain: next}
			return false
		}
		step.Action = "jump " + t.Chain
		s.o.Trace = append(s.o.Trace, step)
		if len(s.stack) >= w.maxDepth {
			w.unknown(s, r, fmt.Sprintf("jumps nested deeper than %d", w.maxDepth))
			return true
		}
		s.stack = append(s.stack, s.cur)
		s.cur = frame{chain: next}
	case *NATTarget:
		step.Action = t.name
		s.o.Trace = append(s.o.Trace, step)
		if r.Table != TableNAT {
			w.unknown(s, r, t.name+" outside the nat table")
			return true
		}
		if note, ok := w.nat(s, r, t); !ok {
			w.unknown(s, r, note)
			return true
		}
		// A NAT target ends the nat table with ACCEPT.
		if !w.nextTable(s) {
			w.finish(s, nf.Accept, r)
			return true
		}
	case *MarkTarget:
		step.Action = t.name
		s.o.Trace = append(s.o.Trace, step)
		applyMark(&s.pkt, t)
	case *ContinueTarget:
		step.Action = t.name
		s.o.Trace = append(s.o.Trace, step)
		if t.NoTrack {
			s.pkt.Conn.State = nf.CtUntracked
		}
	case *UnknownTarget:
		step.Action = t.name
		s.o.Trace = append(s.o.Trace, step)
		w.unknown(s, r, "the target is not understood: "+t.text+" ("+t.Reason+")")
		return true
	}
	return false
}

func applyMark(p *nf.Packet, t *MarkTarget) {
	switch {
	case t.Conn && !hasConn(p):
		// No connection (raw, untracked, invalid): CONNMARK has nothing to mark.
	case !t.Conn:
		p.Mark = (p.Mark &^ t.Mask) ^ t.Xor
	case t.Op == "xset":
		p.Conn.Mark = (p.Conn.Mark &^ t.Mask) ^ t.Xor
	case t.Op == "save":
		p.Conn.Mark = (p.Conn.Mark &^ t.CtMask) ^ (p.Mark & t.NfMask)
	case t.Op == "restore":
		p.Mark = (p.Mark &^ t.NfMask) ^ (p.Conn.Mark & t.CtMask)
	}
}

// nat rewrites the packet for a NAT target and records it; false (with why) when it cannot
// tell the new address.
func (w *walker) nat(s *state, r *Rule, t *NATTarget) (string, bool) {
	p := &s.pkt
	if !p.Conn.OrigSrc.IsValid() {
		p.Conn.OrigSrc = netip.AddrPortFrom(p.Src, p.SrcPort)
		p.Conn.OrigDst = netip.AddrPortFrom(p.Dst, p.DstPort)
	}
	n := nf.NAT{Kind: t.name, Rule: r}
	hasPorts := p.Proto == nf.ProtoTCP || p.Proto == nf.ProtoUDP || p.Proto == nf.ProtoSCTP
	var notes []string
	if t.Range {
		notes = append(notes, "the first address and port of the range taken")
	}
	switch t.name {
	case "DNAT", "REDIRECT":
		n.Before = netip.AddrPortFrom(p.Dst, p.DstPort)
		addr := t.Addr
		if t.name == "REDIRECT" {
			var ok bool
			if addr, ok = w.env.RedirectAddr(p.In); !ok {
				return "REDIRECT: the input interface " + p.In + " has no address in the snapshot", false
			}
		}
		if addr.IsValid() {
			p.Dst = addr
		}
		if t.Port != 0 && hasPorts {
			p.DstPort = t.Port
		}
		n.After = netip.AddrPortFrom(p.Dst, p.DstPort)
		if n.After != n.Before {
			p.Conn.Status |= nf.StatusDNAT
		}
	case "SNAT", "MASQUERADE":
		n.Before = netip.AddrPortFrom(p.Src, p.SrcPort)
		addr := t.Addr
		if t.name == "MASQUERADE" {
			var ok bool
			addr, ok = w.env.PrimaryAddr(p.Out, p.NextHop)
			if !ok {
				return "MASQUERADE: the output interface " + p.Out + " has no address in the snapshot", false
			}
		}
		p.Src = addr
		if t.Port != 0 && hasPorts {
			p.SrcPort = t.Port
		}
		if t.FullyRandom || t.Random {
			notes = append(notes, "the source port may be chosen at random; the packet's is kept")
		}
		n.After = netip.AddrPortFrom(p.Src, p.SrcPort)
		if n.After != n.Before {
			p.Conn.Status |= nf.StatusSNAT
		}
	}
	for i, note := range notes {
		if i > 0 {
			n.Note += "; "
		}
		n.Note += note
	}
	s.o.NAT = append(s.o.NAT, n)
	return "", true
}
