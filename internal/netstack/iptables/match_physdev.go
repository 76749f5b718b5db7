package iptables

import "github.com/netdiag/netdiag/internal/netstack/nf"

// PhysDevMatch is -m physdev.
type PhysDevMatch struct {
	base
	In, Out                         *string
	NotIn, NotOut                   bool
	IsIn, IsOut, IsBridged          bool
	NotIsIn, NotIsOut, NotIsBridged bool
}

func (m *PhysDevMatch) Eval(p *nf.Packet, _ *Env) Result {
	if m.In != nil && (p.PhysIn != "" && IfaceMatch(*m.In, p.PhysIn)) == m.NotIn {
		return Miss
	}
	if m.Out != nil && (p.PhysOut != "" && IfaceMatch(*m.Out, p.PhysOut)) == m.NotOut {
		return Miss
	}
	if m.IsIn && (p.PhysIn != "") == m.NotIsIn {
		return Miss
	}
	if m.IsOut && (p.PhysOut != "") == m.NotIsOut {
		return Miss
	}
	if m.IsBridged && p.Bridged == m.NotIsBridged {
		return Miss
	}
	return Hit
}

// parsePhysDev reads -m physdev.
func parsePhysDev(a *allocator, b base, opts []option) Match {
	m := &PhysDevMatch{base: b}
	for _, o := range opts {
		switch o.name {
		case "--physdev-in", "--physdev-out":
			if len(o.args) != 1 {
				return b.unknown("option " + o.name)
			}
			name := o.args[0]
			if o.name == "--physdev-in" {
				m.In, m.NotIn = &name, o.neg
			} else {
				m.Out, m.NotOut = &name, o.neg
			}
		case "--physdev-is-in":
			m.IsIn, m.NotIsIn = true, o.neg
		case "--physdev-is-out":
			m.IsOut, m.NotIsOut = true, o.neg
		case "--physdev-is-bridged":
			m.IsBridged, m.NotIsBridged = true, o.neg
		default:
			return b.unknown("option " + o.name)
		}
	}
	return m
}
