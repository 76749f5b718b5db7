package iptables

import (
	"math"
	"strconv"
	"strings"

	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// MarkMatch is -m mark or -m connmark: (mark & Mask) == Value.
type MarkMatch struct {
	base
	Value, Mask uint32
	Not         bool
	// Conn is set for connmark.
	Conn bool
}

func (m *MarkMatch) Eval(p *nf.Packet, _ *Env) Result {
	mark := p.Mark
	if m.Conn {
		if !hasConn(p) {
			return Miss
		}
		mark = p.Conn.Mark
	}
	return hit((mark&m.Mask == m.Value) != m.Not)
}

// parseMarkMask reads value[/mask]; the mask defaults to all ones.
func parseMarkMask(s string) (uint32, uint32, bool) {
	v, m, hasMask := strings.Cut(s, "/")
	value, err := strconv.ParseUint(v, 0, 32)
	if err != nil {
		return 0, 0, false
	}
	mask := uint64(math.MaxUint32)
	if hasMask {
		if mask, err = strconv.ParseUint(m, 0, 32); err != nil {
			return 0, 0, false
		}
	}
	return uint32(value), uint32(mask), true
}

// parseMark reads -m mark and -m connmark.
func parseMark(a *allocator, b base, opts []option) Match {
	m := &MarkMatch{base: b, Conn: b.module == "connmark"}
	for _, o := range opts {
		if o.name != "--mark" || len(o.args) != 1 {
			return b.unknown("option " + o.name)
		}
		v, mask, ok := parseMarkMask(o.args[0])
		if !ok {
			return b.unknown("mark " + o.args[0])
		}
		m.Value, m.Mask, m.Not = v, mask, o.neg
	}
	return m
}
