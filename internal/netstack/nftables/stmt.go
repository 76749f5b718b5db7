package nftables

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// statement is one compiled statement of a rule.
type statement interface {
	exec(w *walker, s *state, r *Rule) stResult
	// acts reports whether the statement can do more than test the packet or count it: a
	// verdict, a rewrite, a mark.
	acts() bool
}

type stOutcome int

const (
	stNext stOutcome = iota // the statement held; go on with the rule
	stMiss                  // a match failed: the rule ends
	stFork                  // numgen: evaluate the rule once per value
	stUnknown
	stUnsure  // a term not understood: the rule may hold or not
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

// verdict is what a rule's statements decided; chain is the jump's or goto's, resolved when
// parsed (nil when the ruleset has no such chain).
type verdict struct {
	kind   string // "", accept, drop, reject, return, jump, goto
	target string
	chain  *Chain
}

// notUnderstood stands where the parser met something the evaluator does not understand.
// A term (a match) leaves the rule undecided, and the walk goes on past it only when
// nothing else of the rule could act; any other statement decides Unknown when reached.
type notUnderstood struct {
	note string
	term bool
}

func (u *notUnderstood) exec(*walker, *state, *Rule) stResult {
	if u.term {
		return stResult{outcome: stUnsure, note: u.note}
	}
	return stResult{outcome: stUnknown, note: u.note}
}

func (u *notUnderstood) acts() bool { return !u.term }

// nop counts, logs or limits: nothing the evaluator follows.
type nop struct{}

func (nop) exec(*walker, *state, *Rule) stResult { return stResult{} }
func (nop) acts() bool                           { return false }

type verdictStmt struct {
	v      verdict
	action string
}

func (v *verdictStmt) exec(*walker, *state, *Rule) stResult {
	return stResult{outcome: stVerdict, action: v.action, v: v.v}
}
func (*verdictStmt) acts() bool { return true }

type dropStmt struct{}

func (dropStmt) exec(*walker, *state, *Rule) stResult {
	return stResult{outcome: stDone, action: "drop"}
}
func (dropStmt) acts() bool { return true }

type rejectStmt struct{ with string }

func (r rejectStmt) exec(*walker, *state, *Rule) stResult {
	return stResult{outcome: stDone, action: "reject", note: r.with}
}
func (rejectStmt) acts() bool { return true }

type notrackStmt struct{}

func (notrackStmt) exec(_ *walker, s *state, _ *Rule) stResult {
	s.pkt.Conn.State = nf.CtUntracked
	return stResult{outcome: stAction, action: "notrack"}
}
func (notrackStmt) acts() bool { return true }

type setUpdateStmt struct{}

func (setUpdateStmt) exec(*walker, *state, *Rule) stResult {
	return stResult{outcome: stAction, action: "set update"}
}

// A set update records the packet for later ones (session affinity); this one goes on as
// it is.
func (setUpdateStmt) acts() bool { return false }

// matchStmt compares a value with a literal (cmp), a pattern (pat) or a set's elements.
type matchStmt struct {
	op   string
	neg  bool
	left valueExpr
	cmp  *cmpRight
	pat  *pat
	set  *setRef
}

func (m *matchStmt) acts() bool { return false }

func (m *matchStmt) exec(w *walker, s *state, r *Rule) stResult {
	left, _, res := m.left.eval(w, s, r)
	if res.outcome != stNext {
		return res
	}
	var ok bool
	switch {
	case m.set != nil:
		_, ok = m.set.lookup(left)
	case m.pat != nil:
		ok = m.pat.has(left[0])
	default:
		ok = m.cmp.holds(left[0])
	}
	if m.neg {
		ok = !ok
	}
	if !ok {
		return stResult{outcome: stMiss}
	}
	return stResult{}
}

// cmpRight is a comparison with a literal; "!=" is applied by the match.
type cmpRight struct {
	op string
	v  scalar
	// prefix is an interface name's wildcard ("veth*"), whatever the operator.
	prefix string
	wild   bool
}

func (c *cmpRight) holds(l scalar) bool {
	if c.wild {
		return strings.HasPrefix(l.s, c.prefix)
	}
	switch c.op {
	case "==", "!=":
		return l == c.v
	case "in":
		// Flags: any of them.
		return l.k == kNum && l.n&c.v.n != 0
	case "<":
		return l.n < c.v.n
	case ">":
		return l.n > c.v.n
	case "<=":
		return l.n <= c.v.n
	}
	return l.n >= c.v.n
}

// vmapStmt looks its key up in a verdict map and takes the element's verdict.
type vmapStmt struct {
	key valueExpr
	set *setRef
}

func (*vmapStmt) acts() bool { return true }

func (m *vmapStmt) exec(w *walker, s *state, r *Rule) stResult {
	key, _, res := m.key.eval(w, s, r)
	if res.outcome != stNext {
		return res
	}
	i, found := m.set.lookup(key)
	if !found {
		// No element: the rule ends here.
		return stResult{outcome: stMiss}
	}
	v := m.set.vs[i]
	switch v.kind {
	case "drop":
		return stResult{outcome: stDone, action: "vmap drop"}
	case "continue":
		return stResult{}
	}
	return stResult{outcome: stVerdict, action: strings.TrimSpace("vmap " + v.kind + " " + v.target), v: v}
}

// mangleStmt sets the packet's mark, or its connection's (ct).
type mangleStmt struct {
	value valueExpr
	ct    bool
}

func (*mangleStmt) acts() bool { return true }

func (m *mangleStmt) exec(w *walker, s *state, r *Rule) stResult {
	val, _, res := m.value.eval(w, s, r)
	if res.outcome != stNext {
		return res
	}
	if len(val) != 1 || val[0].k != kNum {
		return unknownSt("mangle value %v", val)
	}
	if m.ct {
		s.pkt.Conn.Mark = uint32(val[0].n)
		return stResult{outcome: stAction, action: "ct mark"}
	}
	s.pkt.Mark = uint32(val[0].n)
	return stResult{outcome: stAction, action: "mark"}
}

// natStmt is dnat, snat, masquerade or redirect, with the address and port it names.
type natStmt struct {
	kind               string
	addr, port         valueExpr
	addrText, portText any
	flags              []string
}

func (*natStmt) acts() bool { return true }

func (n *natStmt) exec(w *walker, s *state, r *Rule) stResult {
	if s.cur.chain.Table == nil || !s.inNat {
		return unknownSt("%s outside a nat chain", n.kind)
	}
	p := &s.pkt
	if !p.Conn.OrigSrc.IsValid() {
		p.Conn.OrigSrc = netip.AddrPortFrom(p.Src, p.SrcPort)
		p.Conn.OrigDst = netip.AddrPortFrom(p.Dst, p.DstPort)
	}
	hasPorts := p.Proto == nf.ProtoTCP || p.Proto == nf.ProtoUDP || p.Proto == nf.ProtoSCTP
	// The kinds are named as iptables names its targets, whichever ruleset rewrote.
	x := nf.NAT{Kind: strings.ToUpper(n.kind), Rule: r}
	var addr netip.Addr
	var port uint16
	if n.addr != nil {
		val, _, res := n.addr.eval(w, s, r)
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
			return unknownSt("%s address %v", n.kind, n.addrText)
		}
	}
	if n.port != nil {
		val, _, res := n.port.eval(w, s, r)
		if res.outcome != stNext {
			return res
		}
		if len(val) != 1 || val[0].k != kNum {
			return unknownSt("%s port %v", n.kind, n.portText)
		}
		port = uint16(val[0].n)
	}
	if len(n.flags) > 0 {
		x.Note = "flags " + strings.Join(n.flags, ",") + ": the packet's source port is kept"
	}
	switch n.kind {
	case "dnat", "redirect":
		x.Before = netip.AddrPortFrom(p.Dst, p.DstPort)
		if n.kind == "redirect" {
			var ok bool
			if addr, ok = w.env.RedirectAddr(p.In); !ok {
				return unknownSt("redirect: the input interface %s has no address in the snapshot", p.In)
			}
		}
		if addr.IsValid() {
			p.Dst = addr
		}
		if port != 0 && hasPorts {
			p.DstPort = port
		}
		x.After = netip.AddrPortFrom(p.Dst, p.DstPort)
		if x.After != x.Before {
			p.Conn.Status |= nf.StatusDNAT
		}
		p.Conn.Status |= natDstSetUp
	default:
		x.Before = netip.AddrPortFrom(p.Src, p.SrcPort)
		if n.kind == "masquerade" {
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
		x.After = netip.AddrPortFrom(p.Src, p.SrcPort)
		if x.After != x.Before {
			p.Conn.Status |= nf.StatusSNAT
		}
		p.Conn.Status |= natSrcSetUp
	}
	s.o.NAT = append(s.o.NAT, x)
	// A nat statement accepts the packet.
	return stResult{outcome: stVerdict, action: n.kind, v: verdict{kind: "accept"}}
}
