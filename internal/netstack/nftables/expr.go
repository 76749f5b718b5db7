package nftables

import (
	"encoding/json"
	"net/netip"
	"strconv"

	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// IP protocols the payload expressions test for.
const (
	protoTCP  = nf.ProtoTCP
	protoUDP  = nf.ProtoUDP
	protoSCTP = nf.ProtoSCTP
)

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

// kindOf is the kind of scalar an expression of the hint gives.
func kindOf(h hint) int {
	switch h {
	case hAddr:
		return kAddr
	case hFibType, hIface, hStr:
		return kStr
	}
	return kNum
}

func ctState(name string) (uint64, bool) {
	switch name {
	case "invalid":
		return 1, true
	case "established":
		return 2, true
	case "related":
		return 4, true
	case "new":
		return 8, true
	case "untracked":
		return 64, true
	}
	return 0, false
}

func ctStatus(name string) (uint64, bool) {
	switch name {
	case "expected":
		return 1, true
	case "seen-reply":
		return 2, true
	case "assured":
		return 4, true
	case "confirmed":
		return 8, true
	case "snat":
		return 16, true
	case "dnat":
		return 32, true
	}
	return 0, false
}

func protoNum(name string) (uint64, bool) {
	switch name {
	case "icmp":
		return 1, true
	case "tcp":
		return 6, true
	case "udp":
		return 17, true
	case "sctp":
		return 132, true
	case "icmpv6":
		return 58, true
	case "gre":
		return 47, true
	case "esp":
		return 50, true
	case "ah":
		return 51, true
	case "ipencap":
		return 4, true
	}
	return 0, false
}

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
			n, ok := protoNum(v)
			return scalar{k: kNum, n: n}, ok
		case hCtState:
			n, ok := ctState(v)
			return scalar{k: kNum, n: n}, ok
		case hCtStatus:
			n, ok := ctStatus(v)
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

// valueExpr is a compiled value expression.
type valueExpr interface {
	// eval gives the expression's value for the packet: a miss when the packet has no such
	// header, a fork for numgen until the walk pins its value.
	eval(w *walker, s *state, r *Rule) ([]scalar, []hint, stResult)
	// hints says how the value's parts read literals; nil when only a lookup tells (a map's
	// data).
	hints() []hint
}

// constExpr is a literal where an expression may stand (a mangle's value, a nat address).
type constExpr struct {
	v scalar
	h hint
}

func (c *constExpr) eval(*walker, *state, *Rule) ([]scalar, []hint, stResult) {
	return []scalar{c.v}, c.hints(), stResult{}
}

func (c *constExpr) hints() []hint { return []hint{c.h} }

// Payload fields.
const (
	fSrc = iota
	fDst
	fProto
	fSport
	fDport
	fICMPType
	fICMPCode
)

// payloadExpr reads a header field; l4 (or anyL4, for th) names the transport header it
// needs, icmp the ICMP header.
type payloadExpr struct {
	field int
	l4    uint8
	anyL4 bool
	icmp  bool
	hs    []hint
}

func (e *payloadExpr) eval(_ *walker, s *state, _ *Rule) ([]scalar, []hint, stResult) {
	p := &s.pkt
	switch {
	case e.anyL4 && p.Proto != nf.ProtoTCP && p.Proto != nf.ProtoUDP && p.Proto != nf.ProtoSCTP,
		e.l4 != 0 && p.Proto != e.l4,
		e.icmp && p.Proto != nf.ProtoICMP:
		// No such header: the expression has no value and the rule ends.
		return nil, nil, stResult{outcome: stMiss}
	}
	switch e.field {
	case fSrc:
		return []scalar{{k: kAddr, a: p.Src}}, e.hs, stResult{}
	case fDst:
		return []scalar{{k: kAddr, a: p.Dst}}, e.hs, stResult{}
	case fProto:
		return []scalar{{n: uint64(p.Proto)}}, e.hs, stResult{}
	case fSport:
		return []scalar{{n: uint64(p.SrcPort)}}, e.hs, stResult{}
	case fDport:
		return []scalar{{n: uint64(p.DstPort)}}, e.hs, stResult{}
	case fICMPType:
		return []scalar{{n: uint64(p.ICMPType)}}, e.hs, stResult{}
	}
	return []scalar{{n: uint64(p.ICMPCode)}}, e.hs, stResult{}
}

func (e *payloadExpr) hints() []hint { return e.hs }

// metaHint is how a meta key's value reads literals; false for a key the evaluator does not
// read.
func metaHint(key string) (hint, bool) {
	switch key {
	case "l4proto":
		return hProto, true
	case "mark":
		return hNum, true
	case "iifname", "oifname":
		return hIface, true
	case "nfproto", "protocol":
		return hStr, true
	}
	return 0, false
}

type metaExpr struct {
	key string
	hs  []hint
}

func (e *metaExpr) eval(_ *walker, s *state, _ *Rule) ([]scalar, []hint, stResult) {
	p := &s.pkt
	switch e.key {
	case "l4proto":
		return []scalar{{n: uint64(p.Proto)}}, e.hs, stResult{}
	case "mark":
		return []scalar{{n: uint64(p.Mark)}}, e.hs, stResult{}
	case "iifname":
		return []scalar{{k: kStr, s: p.In}}, e.hs, stResult{}
	case "oifname":
		return []scalar{{k: kStr, s: p.Out}}, e.hs, stResult{}
	case "nfproto":
		return []scalar{{k: kStr, s: "ipv4"}}, e.hs, stResult{}
	}
	return []scalar{{k: kStr, s: "ip"}}, e.hs, stResult{}
}

func (e *metaExpr) hints() []hint { return e.hs }

// ctHint is how a ct key's value reads literals; false for a key the evaluator does not
// read.
func ctHint(key string) (hint, bool) {
	switch key {
	case "state":
		return hCtState, true
	case "status":
		return hCtStatus, true
	case "mark":
		return hNum, true
	case "direction":
		return hStr, true
	}
	return 0, false
}

type ctExpr struct {
	key string
	hs  []hint
}

func (e *ctExpr) eval(_ *walker, s *state, _ *Rule) ([]scalar, []hint, stResult) {
	p := &s.pkt
	switch e.key {
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
		return []scalar{{n: bit}}, e.hs, stResult{}
	case "status":
		var bits uint64
		for _, f := range [...]struct {
			flag nf.CtStatus
			bit  uint64
		}{{nf.StatusExpected, 1}, {nf.StatusSeenReply, 2}, {nf.StatusAssured, 4}, {nf.StatusConfirmed, 8}, {nf.StatusSNAT, 16}, {nf.StatusDNAT, 32}} {
			if p.Conn.Status&f.flag != 0 {
				bits |= f.bit
			}
		}
		return []scalar{{n: bits}}, e.hs, stResult{}
	case "mark":
		return []scalar{{n: uint64(p.Conn.Mark)}}, e.hs, stResult{}
	}
	d := "original"
	if p.Conn.Reply {
		d = "reply"
	}
	return []scalar{{k: kStr, s: d}}, e.hs, stResult{}
}

func (e *ctExpr) hints() []hint { return e.hs }

// ctOrigExpr reads the connection's original direction: its addresses before any NAT.
type ctOrigExpr struct {
	key string
	hs  []hint
}

func (e *ctOrigExpr) eval(_ *walker, s *state, _ *Rule) ([]scalar, []hint, stResult) {
	p := &s.pkt
	src, dst := p.Conn.OrigSrc, p.Conn.OrigDst
	if !src.IsValid() {
		src, dst = netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort)
	}
	switch e.key {
	case "saddr":
		return []scalar{{k: kAddr, a: src.Addr()}}, e.hs, stResult{}
	case "daddr":
		return []scalar{{k: kAddr, a: dst.Addr()}}, e.hs, stResult{}
	}
	return []scalar{{n: uint64(dst.Port())}}, e.hs, stResult{}
}

func (e *ctOrigExpr) hints() []hint { return e.hs }

// Interfaces a fib lookup is bound to; zero is none.
const (
	ifIn = iota + 1
	ifOut
)

// fibExpr is `fib saddr|daddr [. iif|oif] type`: the route type of an address; or `fib
// saddr [. mark] [. iif] oif`, the interface the route back to the source leaves by ("0"
// when there is none, or, bound to iif, when it is not the input interface): nftables'
// reverse path filter, as felix's anti-spoofing rule uses it.
type fibExpr struct {
	src   bool
	iface int
	// oif asks for the output interface instead of the type; mark looks up with the
	// packet's mark.
	oif, mark bool
	hs        []hint
}

func (e *fibExpr) eval(w *walker, s *state, _ *Rule) ([]scalar, []hint, stResult) {
	p := &s.pkt
	if e.oif {
		return e.evalOIF(w, s)
	}
	addr, iface := p.Dst, ""
	if e.src {
		addr = p.Src
	}
	switch e.iface {
	case ifIn:
		iface = p.In
	case ifOut:
		iface = p.Out
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
	return []scalar{{k: kStr, s: t}}, e.hs, stResult{}
}

// evalOIF answers `fib saddr ... oif` from the namespace's routes; without them it is
// undecided.
func (e *fibExpr) evalOIF(w *walker, s *state) ([]scalar, []hint, stResult) {
	p := &s.pkt
	if p.In == "lo" {
		return []scalar{{k: kStr, s: p.In}}, e.hs, stResult{}
	}
	if w.env == nil || w.env.RouteBack == nil {
		return nil, nil, stResult{outcome: stUnknown}
	}
	var mark uint32
	if e.mark {
		mark = p.Mark
	}
	r, ok := w.env.RouteBack(p.Src, mark)
	if !ok {
		return nil, nil, stResult{outcome: stUnknown}
	}
	dev := r.Device
	if !r.Unicast || e.iface == ifIn && dev != p.In {
		dev = "0"
	}
	return []scalar{{k: kStr, s: dev}}, e.hs, stResult{}
}

func (e *fibExpr) hints() []hint { return e.hs }

// numgenExpr forks the walk, one branch per value, until the branch pins its value.
type numgenExpr struct {
	mod, offset uint64
	hs          []hint
}

func (e *numgenExpr) eval(_ *walker, s *state, r *Rule) ([]scalar, []hint, stResult) {
	if s.ngRule != r {
		return nil, nil, stResult{outcome: stFork, n: e.mod}
	}
	return []scalar{{n: s.ngValue + e.offset}}, e.hs, stResult{}
}

func (e *numgenExpr) hints() []hint { return e.hs }

type concatExpr struct {
	parts []valueExpr
	hs    []hint
}

func (e *concatExpr) eval(w *walker, s *state, r *Rule) ([]scalar, []hint, stResult) {
	vals := make([]scalar, 0, len(e.hs))
	for _, part := range e.parts {
		v, _, res := part.eval(w, s, r)
		if res.outcome != stNext {
			return nil, nil, res
		}
		vals = append(vals, v...)
	}
	return vals, e.hs, stResult{}
}

func (e *concatExpr) hints() []hint { return e.hs }

// binopExpr is a bitwise operation of a numeric value with a constant.
type binopExpr struct {
	op      string
	left    valueExpr
	operand uint64
}

func (e *binopExpr) eval(w *walker, s *state, r *Rule) ([]scalar, []hint, stResult) {
	l, h, res := e.left.eval(w, s, r)
	if res.outcome != stNext {
		return nil, nil, res
	}
	x, y := l[0].n, e.operand
	switch e.op {
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
}

func (e *binopExpr) hints() []hint { return e.left.hints() }

// mapExpr looks its key up in a map and gives the element's data.
type mapExpr struct {
	key valueExpr
	set *setRef
}

func (e *mapExpr) eval(w *walker, s *state, r *Rule) ([]scalar, []hint, stResult) {
	key, _, res := e.key.eval(w, s, r)
	if res.outcome != stNext {
		return nil, nil, res
	}
	i, found := e.set.lookup(key)
	if !found {
		return nil, nil, stResult{outcome: stMiss}
	}
	return dataValue(e.set.elems[i].Data)
}

func (e *mapExpr) hints() []hint { return nil }

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
