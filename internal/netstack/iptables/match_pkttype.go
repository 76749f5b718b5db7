package iptables

import (
	"net/netip"

	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// PktTypeMatch is -m pkttype.
type PktTypeMatch struct {
	base
	Type string
	Not  bool
}

func (m *PktTypeMatch) Eval(p *nf.Packet, env *Env) Result {
	t := "unicast"
	switch {
	case p.Dst.IsMulticast():
		t = "multicast"
	case p.Dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || env != nil && env.Broadcast[p.Dst]:
		t = "broadcast"
	}
	return hit((t == m.Type) != m.Not)
}

// parsePktType reads -m pkttype.
func parsePktType(a *allocator, b base, opts []option) Match {
	m := &PktTypeMatch{base: b}
	for _, o := range opts {
		if o.name != "--pkt-type" || len(o.args) != 1 {
			return b.unknown("option " + o.name)
		}
		m.Type, m.Not = o.args[0], o.neg
	}
	return m
}
