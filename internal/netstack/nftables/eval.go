package nftables

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

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

// verdict is what a rule's statements decided.
type verdict struct {
	kind   string // "", accept, drop, reject, return, jump, goto
	target string
}

// rule evaluates one rule's statements; true when the state is finished (or replaced by
// its forks).
func (w *walker) rule(s, snap *state, r *Rule) bool {
	step := nf.Step{Ruleset: nf.NFTables, Table: r.Table, Chain: r.Chain, Rule: r, Action: "continue"}
	for _, e := range r.Exprs {
		m, ok := e.(map[string]any)
		if !ok || len(m) != 1 {
			w.unknown(s, r, "a statement that is not an object")
			return true
		}
		for kind, arg := range m {
			res := w.statement(s, r, kind, arg)
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
	}
	s.o.Trace = append(s.o.Trace, step)
	return false
}

// apply carries out a verdict; true when the state is finished.
func (w *walker) apply(s *state, r *Rule, v verdict) bool {
	t := w.rs.chainOf(r.Table, s.cur.chain.Table.Family, v.target)
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
		if t == nil {
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
		s.cur = frame{chain: t}
	}
	return false
}

func (rs *Ruleset) chainOf(table, family, name string) *Chain {
	for _, t := range rs.Tables {
		if t.Name == table && t.Family == family {
			return t.Chains[name]
		}
	}
	return nil
}

type stOutcome int

const (
	stNext stOutcome = iota // the statement held; go on with the rule
	stMiss                  // a match failed: the rule ends
	stFork                  // numgen: evaluate the rule once per value
	stUnknown
	stAction  // a non-terminal action happened (mark, set update): go on
	stVerdict // a verdict (accept, jump, ...) ends the rule
	stDone    // drop or reject
)

type stResult struct {
	outcome stOutcome
	action  string
	note    string
	v       verdict
	n       uint64
}

func unknownSt(format string, a ...any) stResult {
	return stResult{outcome: stUnknown, note: fmt.Sprintf(format, a...)}
}

// statement evaluates one statement of a rule.
func (w *walker) statement(s *state, r *Rule, kind string, arg any) stResult {
	switch kind {
	case "counter", "log", "limit", "comment":
		// A limit lets the packet through below its rate; the evaluator follows one packet.
		return stResult{}
	case "match":
		return w.match(s, r, arg)
	case "accept", "drop", "return", "continue":
		switch kind {
		case "drop":
			return stResult{outcome: stDone, action: "drop"}
		case "continue":
			return stResult{}
		}
		return stResult{outcome: stVerdict, action: kind, v: verdict{kind: kind}}
	case "jump", "goto":
		target, _ := arg.(map[string]any)["target"].(string)
		return stResult{outcome: stVerdict, action: kind + " " + target, v: verdict{kind: kind, target: target}}
	case "reject":
		with := "port-unreachable"
		if m, ok := arg.(map[string]any); ok {
			if e, ok := m["expr"].(string); ok {
				with = e
			} else if t, ok := m["type"].(string); ok {
				with = t
			}
		}
		return stResult{outcome: stDone, action: "reject", note: with}
	case "vmap":
		m, _ := arg.(map[string]any)
		key, hints, res := w.eval(s, r, m["key"])
		if res.outcome != stNext {
			return res
		}
		data, found, err := w.lookup(s, r, m["data"], key, hints)
		if err != "" {
			return unknownSt("%s", err)
		}
		if !found {
			// No element: the rule ends here.
			return stResult{outcome: stMiss}
		}
		v, ok := parseVerdict(data)
		if !ok {
			return unknownSt("verdict map data %v", data)
		}
		switch v.kind {
		case "drop":
			return stResult{outcome: stDone, action: "vmap drop"}
		case "continue":
			return stResult{}
		}
		return stResult{outcome: stVerdict, action: strings.TrimSpace("vmap " + v.kind + " " + v.target), v: v}
	case "mangle":
		m, _ := arg.(map[string]any)
		val, _, res := w.evalHinted(s, r, m["value"], hNum)
		if res.outcome != stNext {
			return res
		}
		if len(val) != 1 || val[0].k != kNum {
			return unknownSt("mangle value %v", m["value"])
		}
		key, _ := m["key"].(map[string]any)
		switch {
		case isMeta(key, "mark"):
			s.pkt.Mark = uint32(val[0].n)
			return stResult{outcome: stAction, action: "mark"}
		case isCt(key, "mark"):
			s.pkt.Conn.Mark = uint32(val[0].n)
			return stResult{outcome: stAction, action: "ct mark"}
		}
		return unknownSt("mangle of %v", m["key"])
	case "dnat", "snat", "masquerade", "redirect":
		return w.natStatement(s, r, kind, arg)
	case "notrack":
		s.pkt.Conn.State = nf.CtUntracked
		return stResult{outcome: stAction, action: "notrack"}
	case "set":
		// update/add @set: it records the packet (session affinity); no effect now.
		return stResult{outcome: stAction, action: "set update"}
	}
	return unknownSt("statement %s is not understood", kind)
}

func parseVerdict(v any) (verdict, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return verdict{}, false
	}
	for k, a := range m {
		switch k {
		case "accept", "drop", "return", "continue":
			return verdict{kind: k}, true
		case "jump", "goto":
			t, _ := a.(map[string]any)["target"].(string)
			return verdict{kind: k, target: t}, t != ""
		}
	}
	return verdict{}, false
}

func isMeta(e map[string]any, key string) bool {
	m, ok := e["meta"].(map[string]any)
	return ok && m["key"] == key
}

func isCt(e map[string]any, key string) bool {
	m, ok := e["ct"].(map[string]any)
	return ok && m["key"] == key
}

func (w *walker) natStatement(s *state, r *Rule, kind string, arg any) stResult {
	if s.cur.chain.Table == nil || !s.inNat {
		return unknownSt("%s outside a nat chain", kind)
	}
	m, _ := arg.(map[string]any)
	p := &s.pkt
	if !p.Conn.OrigSrc.IsValid() {
		p.Conn.OrigSrc = netip.AddrPortFrom(p.Src, p.SrcPort)
		p.Conn.OrigDst = netip.AddrPortFrom(p.Dst, p.DstPort)
	}
	hasPorts := p.Proto == nf.ProtoTCP || p.Proto == nf.ProtoUDP || p.Proto == nf.ProtoSCTP
	// The kinds are named as iptables names its targets, whichever ruleset rewrote.
	n := nf.NAT{Kind: strings.ToUpper(kind), Rule: r}
	var addr netip.Addr
	var port uint16
	if a, ok := m["addr"]; ok {
		val, _, res := w.evalHinted(s, r, a, hAddr)
		if res.outcome != stNext {
			return res
		}
		// A map's data is "addr . port".
		for _, sc := range val {
			switch sc.k {
			case kAddr:
				addr = sc.a
			case kNum:
				port = uint16(sc.n)
			}
		}
		if !addr.IsValid() {
			return unknownSt("%s address %v", kind, a)
		}
	}
	if pv, ok := m["port"]; ok {
		val, _, res := w.evalHinted(s, r, pv, hPort)
		if res.outcome != stNext {
			return res
		}
		if len(val) != 1 || val[0].k != kNum {
			return unknownSt("%s port %v", kind, pv)
		}
		port = uint16(val[0].n)
	}
	if flags := strs(m["flags"]); len(flags) > 0 {
		n.Note = "flags " + strings.Join(flags, ",") + ": the packet's source port is kept"
	}
	switch kind {
	case "dnat", "redirect":
		n.Before = netip.AddrPortFrom(p.Dst, p.DstPort)
		if kind == "redirect" {
			var ok bool
			if p.In == "" {
				addr, ok = netip.AddrFrom4([4]byte{127, 0, 0, 1}), true
			} else {
				addr, ok = w.env.PrimaryAddr(p.In, netip.Addr{})
			}
			if !ok {
				return unknownSt("redirect: the input interface %s has no address in the snapshot", p.In)
			}
		}
		if addr.IsValid() {
			p.Dst = addr
		}
		if port != 0 && hasPorts {
			p.DstPort = port
		}
		n.After = netip.AddrPortFrom(p.Dst, p.DstPort)
		if n.After != n.Before {
			p.Conn.Status |= nf.StatusDNAT
		}
		p.Conn.Status |= natDstSetUp
	default:
		n.Before = netip.AddrPortFrom(p.Src, p.SrcPort)
		if kind == "masquerade" {
			var ok bool
			addr, ok = w.env.PrimaryAddr(p.Out, p.NextHop)
			if !ok {
				return unknownSt("masquerade: the output interface %s has no address in the snapshot", p.Out)
			}
		}
		p.Src = addr
		if port != 0 && hasPorts {
			p.SrcPort = port
		}
		n.After = netip.AddrPortFrom(p.Src, p.SrcPort)
		if n.After != n.Before {
			p.Conn.Status |= nf.StatusSNAT
		}
		p.Conn.Status |= natSrcSetUp
	}
	s.o.NAT = append(s.o.NAT, n)
	// A nat statement accepts the packet.
	return stResult{outcome: stVerdict, action: kind, v: verdict{kind: "accept"}}
}

// Scalar kinds.
const (
	kNum = iota
	kAddr
	kStr
)

type scalar struct {
	k int
	a netip.Addr
	n uint64
	s string
}

func (x scalar) String() string {
	switch x.k {
	case kAddr:
		return x.a.String()
	case kStr:
		return x.s
	}
	return strconv.FormatUint(x.n, 10)
}

// Hints say how to read a literal compared with an expression's value.
type hint int

const (
	hNum hint = iota
	hAddr
	hProto
	hPort
	hCtState
	hCtStatus
	hFibType
	hIface
	hStr
)

var ctStates = map[string]uint64{"invalid": 1, "established": 2, "related": 4, "new": 8, "untracked": 64}
var ctStatuses = map[string]uint64{"expected": 1, "seen-reply": 2, "assured": 4, "confirmed": 8, "snat": 16, "dnat": 32}
var protoNums = map[string]uint64{"icmp": 1, "tcp": 6, "udp": 17, "sctp": 132, "icmpv6": 58, "gre": 47, "esp": 50, "ah": 51}

// literal reads a JSON literal as the hint says.
func literal(v any, h hint) (scalar, bool) {
	switch v := v.(type) {
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			return scalar{}, false
		}
		return scalar{k: kNum, n: uint64(n)}, true
	case float64:
		return scalar{k: kNum, n: uint64(v)}, true
	case string:
		switch h {
		case hAddr:
			a, err := netip.ParseAddr(v)
			return scalar{k: kAddr, a: a}, err == nil
		case hProto:
			n, ok := protoNums[v]
			return scalar{k: kNum, n: n}, ok
		case hCtState:
			n, ok := ctStates[v]
			return scalar{k: kNum, n: n}, ok
		case hCtStatus:
			n, ok := ctStatuses[v]
			return scalar{k: kNum, n: n}, ok
		case hPort, hNum:
			n, err := strconv.ParseUint(v, 0, 64)
			return scalar{k: kNum, n: n}, err == nil
		}
		return scalar{k: kStr, s: v}, true
	case []any:
		// A list of flags: their union.
		var bits uint64
		for _, x := range v {
			sc, ok := literal(x, h)
			if !ok || sc.k != kNum {
				return scalar{}, false
			}
			bits |= sc.n
		}
		return scalar{k: kNum, n: bits}, true
	}
	return scalar{}, false
}

// eval evaluates a value expression: the packet's field (payload, meta, ct, fib), a
// binary operation, a concatenation, numgen or a map lookup.
func (w *walker) eval(s *state, r *Rule, e any) ([]scalar, []hint, stResult) {
	p := &s.pkt
	m, ok := e.(map[string]any)
	if !ok {
		return nil, nil, unknownSt("expression %v", e)
	}
	for k, a := range m {
		am, _ := a.(map[string]any)
		switch k {
		case "payload":
			proto, _ := am["protocol"].(string)
			field, _ := am["field"].(string)
			switch proto {
			case "ip":
				switch field {
				case "saddr":
					return []scalar{{k: kAddr, a: p.Src}}, []hint{hAddr}, stResult{}
				case "daddr":
					return []scalar{{k: kAddr, a: p.Dst}}, []hint{hAddr}, stResult{}
				case "protocol":
					return []scalar{{n: uint64(p.Proto)}}, []hint{hProto}, stResult{}
				}
			case "tcp", "udp", "sctp", "th":
				want := map[string]uint8{"tcp": nf.ProtoTCP, "udp": nf.ProtoUDP, "sctp": nf.ProtoSCTP}[proto]
				if (proto == "th" && p.Proto != nf.ProtoTCP && p.Proto != nf.ProtoUDP && p.Proto != nf.ProtoSCTP) ||
					(proto != "th" && p.Proto != want) {
					// No such header: the expression has no value and the rule ends.
					return nil, nil, stResult{outcome: stMiss}
				}
				switch field {
				case "sport":
					return []scalar{{n: uint64(p.SrcPort)}}, []hint{hPort}, stResult{}
				case "dport":
					return []scalar{{n: uint64(p.DstPort)}}, []hint{hPort}, stResult{}
				}
			case "icmp":
				if p.Proto != nf.ProtoICMP {
					return nil, nil, stResult{outcome: stMiss}
				}
				switch field {
				case "type":
					return []scalar{{n: uint64(p.ICMPType)}}, []hint{hNum}, stResult{}
				case "code":
					return []scalar{{n: uint64(p.ICMPCode)}}, []hint{hNum}, stResult{}
				}
			}
			return nil, nil, unknownSt("payload %s %s", proto, field)
		case "meta":
			switch am["key"] {
			case "l4proto":
				return []scalar{{n: uint64(p.Proto)}}, []hint{hProto}, stResult{}
			case "mark":
				return []scalar{{n: uint64(p.Mark)}}, []hint{hNum}, stResult{}
			case "iifname":
				return []scalar{{k: kStr, s: p.In}}, []hint{hIface}, stResult{}
			case "oifname":
				return []scalar{{k: kStr, s: p.Out}}, []hint{hIface}, stResult{}
			case "nfproto":
				return []scalar{{k: kStr, s: "ipv4"}}, []hint{hStr}, stResult{}
			case "protocol":
				return []scalar{{k: kStr, s: "ip"}}, []hint{hStr}, stResult{}
			}
			return nil, nil, unknownSt("meta %v", am["key"])
		case "ct":
			if dir, ok := am["dir"].(string); ok && dir == "original" {
				src, dst := p.Conn.OrigSrc, p.Conn.OrigDst
				if !src.IsValid() {
					src, dst = netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort)
				}
				switch am["key"] {
				case "saddr", "ip saddr":
					return []scalar{{k: kAddr, a: src.Addr()}}, []hint{hAddr}, stResult{}
				case "daddr", "ip daddr":
					return []scalar{{k: kAddr, a: dst.Addr()}}, []hint{hAddr}, stResult{}
				case "proto-dst":
					return []scalar{{n: uint64(dst.Port())}}, []hint{hPort}, stResult{}
				}
				return nil, nil, unknownSt("ct original %v", am["key"])
			}
			switch am["key"] {
			case "state":
				var bit uint64
				switch p.Conn.State {
				case nf.CtNew:
					bit = 8
				case nf.CtEstablished:
					bit = 2
				case nf.CtRelated:
					bit = 4
				case nf.CtInvalid:
					bit = 1
				case nf.CtUntracked:
					bit = 64
				}
				return []scalar{{n: bit}}, []hint{hCtState}, stResult{}
			case "status":
				var bits uint64
				st := p.Conn.Status
				for flag, b := range map[nf.CtStatus]uint64{nf.StatusExpected: 1, nf.StatusSeenReply: 2,
					nf.StatusAssured: 4, nf.StatusConfirmed: 8, nf.StatusSNAT: 16, nf.StatusDNAT: 32} {
					if st&flag != 0 {
						bits |= b
					}
				}
				return []scalar{{n: bits}}, []hint{hCtStatus}, stResult{}
			case "mark":
				return []scalar{{n: uint64(p.Conn.Mark)}}, []hint{hNum}, stResult{}
			case "direction":
				d := "original"
				if p.Conn.Reply {
					d = "reply"
				}
				return []scalar{{k: kStr, s: d}}, []hint{hStr}, stResult{}
			}
			return nil, nil, unknownSt("ct %v", am["key"])
		case "fib":
			if am["result"] != "type" {
				return nil, nil, unknownSt("fib %v", am["result"])
			}
			flags := strs(am["flags"])
			addr, iface := p.Dst, ""
			for _, f := range flags {
				switch f {
				case "saddr":
					addr = p.Src
				case "daddr":
					addr = p.Dst
				case "iif":
					iface = p.In
				case "oif":
					iface = p.Out
				}
			}
			t := "unicast"
			switch {
			case w.env.IsLocal(addr) && (iface == "" || w.env.LocalOn(addr, iface)):
				t = "local"
			case addr.IsMulticast():
				t = "multicast"
			case addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || w.env != nil && w.env.Broadcast[addr]:
				t = "broadcast"
			}
			return []scalar{{k: kStr, s: t}}, []hint{hFibType}, stResult{}
		case "numgen":
			mod := num(am["mod"])
			if am["mode"] != "random" && am["mode"] != "inc" || mod == 0 {
				return nil, nil, unknownSt("numgen %v", a)
			}
			if s.ngRule != r {
				return nil, nil, stResult{outcome: stFork, n: mod}
			}
			return []scalar{{n: s.ngValue + num(am["offset"])}}, []hint{hNum}, stResult{}
		case "concat":
			parts, _ := a.([]any)
			var vals []scalar
			var hints []hint
			for _, part := range parts {
				v, h, res := w.eval(s, r, part)
				if res.outcome != stNext {
					return nil, nil, res
				}
				vals, hints = append(vals, v...), append(hints, h...)
			}
			return vals, hints, stResult{}
		case "&", "|", "^", ">>", "<<":
			ops, _ := a.([]any)
			if len(ops) != 2 {
				return nil, nil, unknownSt("binary operation %v", m)
			}
			l, h, res := w.eval(s, r, ops[0])
			if res.outcome != stNext {
				return nil, nil, res
			}
			rv, ok := literal(ops[1], h[0])
			if len(l) != 1 || l[0].k != kNum || !ok || rv.k != kNum {
				return nil, nil, unknownSt("binary operation %v", m)
			}
			x, y := l[0].n, rv.n
			switch k {
			case "&":
				x &= y
			case "|":
				x |= y
			case "^":
				x ^= y
			case ">>":
				x >>= y
			case "<<":
				x <<= y
			}
			return []scalar{{n: x}}, h, stResult{}
		case "map":
			key, hints, res := w.eval(s, r, am["key"])
			if res.outcome != stNext {
				return nil, nil, res
			}
			data, found, err := w.lookup(s, r, am["data"], key, hints)
			if err != "" {
				return nil, nil, unknownSt("%s", err)
			}
			if !found {
				return nil, nil, stResult{outcome: stMiss}
			}
			return dataValue(data)
		}
		return nil, nil, unknownSt("expression %s is not understood", k)
	}
	return nil, nil, unknownSt("empty expression")
}

// evalHinted evaluates an expression that may be a bare literal.
func (w *walker) evalHinted(s *state, r *Rule, e any, h hint) ([]scalar, []hint, stResult) {
	if _, ok := e.(map[string]any); ok {
		return w.eval(s, r, e)
	}
	sc, ok := literal(e, h)
	if !ok {
		return nil, nil, unknownSt("literal %v", e)
	}
	return []scalar{sc}, []hint{h}, stResult{}
}

// dataValue reads a map's data: an address, a port, or "addr . port".
func dataValue(d any) ([]scalar, []hint, stResult) {
	var parts []any
	if m, ok := d.(map[string]any); ok {
		if c, ok := m["concat"].([]any); ok {
			parts = c
		}
	}
	if parts == nil {
		parts = []any{d}
	}
	var out []scalar
	var hints []hint
	for _, p := range parts {
		if sc, ok := literal(p, hAddr); ok && sc.k == kAddr {
			out, hints = append(out, sc), append(hints, hAddr)
			continue
		}
		sc, ok := literal(p, hNum)
		if !ok {
			return nil, nil, unknownSt("map data %v", d)
		}
		out, hints = append(out, sc), append(hints, hNum)
	}
	return out, hints, stResult{}
}

// match evaluates {"match": {"op", "left", "right"}}.
func (w *walker) match(s *state, r *Rule, arg any) stResult {
	m, _ := arg.(map[string]any)
	op, _ := m["op"].(string)
	left, hints, res := w.eval(s, r, m["left"])
	if res.outcome != stNext {
		return res
	}
	var ok bool
	switch right := m["right"].(type) {
	case string:
		if strings.HasPrefix(right, "@") {
			_, found, err := w.lookup(s, r, right, left, hints)
			if err != "" {
				return unknownSt("%s", err)
			}
			ok = found
			break
		}
		ok, res = compare(op, left, hints, right)
	case map[string]any:
		if _, isSet := right["set"]; isSet {
			_, found, err := w.lookup(s, r, right, left, hints)
			if err != "" {
				return unknownSt("%s", err)
			}
			ok = found
			break
		}
		pat, good := pattern(right, hints[0])
		if !good || len(left) != 1 {
			return unknownSt("match right side %v", right)
		}
		ok = pat.has(left[0])
	default:
		ok, res = compare(op, left, hints, right)
	}
	if res.outcome == stUnknown {
		return res
	}
	if op == "!=" {
		ok = !ok
	}
	if !ok {
		return stResult{outcome: stMiss}
	}
	return stResult{}
}

// compare compares a single value with a literal; "!=" is applied by the caller.
func compare(op string, left []scalar, hints []hint, right any) (bool, stResult) {
	if len(left) != 1 {
		return false, unknownSt("comparison of a concatenation with %v", right)
	}
	rv, ok := literal(right, hints[0])
	if !ok {
		return false, unknownSt("literal %v", right)
	}
	l := left[0]
	if hints[0] == hIface && rv.k == kStr {
		if p, wild := strings.CutSuffix(rv.s, "*"); wild {
			return strings.HasPrefix(l.s, p), stResult{}
		}
	}
	switch op {
	case "==", "!=":
		return l == rv, stResult{}
	case "in":
		// Flags: any of them.
		return l.k == kNum && l.n&rv.n != 0, stResult{}
	case "<", ">", "<=", ">=":
		if l.k != kNum || rv.k != kNum {
			return false, unknownSt("ordering of %v", right)
		}
		switch op {
		case "<":
			return l.n < rv.n, stResult{}
		case ">":
			return l.n > rv.n, stResult{}
		case "<=":
			return l.n <= rv.n, stResult{}
		}
		return l.n >= rv.n, stResult{}
	}
	return false, unknownSt("operator %s", op)
}

// pat is one part of a set element: a value, a prefix or a range.
type pat struct {
	exact  scalar
	prefix netip.Prefix
	lo, hi scalar
	kind   int // 0 exact, 1 prefix, 2 range
}

func (p pat) has(x scalar) bool {
	switch p.kind {
	case 1:
		return x.k == kAddr && p.prefix.Contains(x.a)
	case 2:
		if x.k == kAddr && p.lo.k == kAddr {
			return !x.a.Less(p.lo.a) && !p.hi.a.Less(x.a)
		}
		return x.k == kNum && x.n >= p.lo.n && x.n <= p.hi.n
	}
	return x == p.exact
}

func pattern(v any, h hint) (pat, bool) {
	if m, ok := v.(map[string]any); ok {
		if pr, ok := m["prefix"].(map[string]any); ok {
			a, err := netip.ParseAddr(fmt.Sprint(pr["addr"]))
			if err != nil {
				return pat{}, false
			}
			p := netip.PrefixFrom(a, int(num(pr["len"])))
			return pat{kind: 1, prefix: p.Masked()}, p.IsValid()
		}
		if rg, ok := m["range"].([]any); ok && len(rg) == 2 {
			lo, ok1 := literal(rg[0], h)
			hi, ok2 := literal(rg[1], h)
			return pat{kind: 2, lo: lo, hi: hi}, ok1 && ok2
		}
		return pat{}, false
	}
	sc, ok := literal(v, h)
	return pat{exact: sc}, ok
}

// setCache holds a set's elements read with the hints of the expression that looks them up.
type setCache struct {
	exact    map[string]int
	patterns [][]pat
	index    []int
}

func key(vals []scalar) string {
	var b strings.Builder
	for i, v := range vals {
		if i > 0 {
			b.WriteString(" . ")
		}
		b.WriteString(v.String())
	}
	return b.String()
}

func buildCache(elems []Elem, hints []hint) (*setCache, bool) {
	c := &setCache{exact: map[string]int{}}
	for i, e := range elems {
		parts := []any{e.Key}
		if m, ok := e.Key.(map[string]any); ok {
			if cc, ok := m["concat"].([]any); ok {
				parts = cc
			}
		}
		if len(parts) != len(hints) {
			return nil, false
		}
		pats := make([]pat, len(parts))
		allExact := true
		for j, part := range parts {
			p, ok := pattern(part, hints[j])
			if !ok {
				return nil, false
			}
			pats[j] = p
			allExact = allExact && p.kind == 0
		}
		if allExact {
			vals := make([]scalar, len(pats))
			for j := range pats {
				vals[j] = pats[j].exact
			}
			c.exact[key(vals)] = i
			continue
		}
		c.patterns = append(c.patterns, pats)
		c.index = append(c.index, i)
	}
	return c, true
}

// lookup finds key in a named set ("@name") or an anonymous one ({"set": [...]}); for a
// map it returns the element's data.
func (w *walker) lookup(s *state, r *Rule, ref any, vals []scalar, hints []hint) (any, bool, string) {
	var elems []Elem
	var set *Set
	switch ref := ref.(type) {
	case string:
		name := strings.TrimPrefix(ref, "@")
		for _, t := range w.rs.Tables {
			if t.Name == r.Table && t.Family == s.cur.chain.Table.Family {
				set = t.Sets[name]
			}
		}
		if set == nil {
			return nil, false, "set " + ref + " is not in the ruleset"
		}
		elems = set.Elems
	case map[string]any:
		list, _ := ref["set"].([]any)
		for _, e := range list {
			if pair, ok := e.([]any); ok && len(pair) == 2 {
				elems = append(elems, Elem{Key: unwrapElem(pair[0]), Data: pair[1]})
			} else {
				elems = append(elems, Elem{Key: unwrapElem(e)})
			}
		}
	default:
		return nil, false, fmt.Sprintf("set reference %v", ref)
	}
	var c *setCache
	if set != nil {
		// Built once per named set, on first use; Traverse may run in several goroutines.
		set.once.Do(func() { set.cache, set.cacheOK = buildCache(elems, hints) })
		c = set.cache
		if !set.cacheOK {
			return nil, false, fmt.Sprintf("set %v: elements do not fit the key", ref)
		}
	} else {
		var ok bool
		if c, ok = buildCache(elems, hints); !ok {
			return nil, false, fmt.Sprintf("set %v: elements do not fit the key", ref)
		}
	}
	if i, ok := c.exact[key(vals)]; ok {
		return elems[i].Data, true, ""
	}
	for n, pats := range c.patterns {
		all := true
		for j, p := range pats {
			if !p.has(vals[j]) {
				all = false
				break
			}
		}
		if all {
			return elems[c.index[n]].Data, true, ""
		}
	}
	return nil, false, ""
}
