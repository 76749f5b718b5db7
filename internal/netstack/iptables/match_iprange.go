package iptables

import (
	"net/netip"
	"strings"

	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// IPRangeMatch is -m iprange.
type IPRangeMatch struct {
	base
	SrcFirst, SrcLast, DstFirst, DstLast netip.Addr
	NotSrc, NotDst                       bool
}

func (m *IPRangeMatch) Eval(p *nf.Packet, _ *Env) Result {
	in := func(a, lo, hi netip.Addr) bool { return !a.Less(lo) && !hi.Less(a) }
	if m.SrcFirst.IsValid() && in(p.Src, m.SrcFirst, m.SrcLast) == m.NotSrc {
		return Miss
	}
	if m.DstFirst.IsValid() && in(p.Dst, m.DstFirst, m.DstLast) == m.NotDst {
		return Miss
	}
	return Hit
}

// parseIPRange reads -m iprange.
func parseIPRange(a *allocator, b base, opts []option) Match {
	m := &IPRangeMatch{base: b}
	for _, o := range opts {
		if len(o.args) != 1 {
			return b.unknown("option " + o.name)
		}
		lo, hi, ok := strings.Cut(o.args[0], "-")
		a, err1 := netip.ParseAddr(lo)
		z, err2 := netip.ParseAddr(hi)
		if !ok || err1 != nil || err2 != nil {
			return b.unknown("range " + o.args[0])
		}
		switch o.name {
		case "--src-range":
			m.SrcFirst, m.SrcLast, m.NotSrc = a, z, o.neg
		case "--dst-range":
			m.DstFirst, m.DstLast, m.NotDst = a, z, o.neg
		default:
			return b.unknown("option " + o.name)
		}
	}
	return m
}
