package iptables

import "github.com/netdiag/netdiag/internal/netstack/nf"

// RPFilterMatch is -m rpfilter (the kernel's ipt_rpfilter): the route back to the packet's
// source must leave by the interface it came in on (or, with --loose, exist at all). Felix
// drops spoofed packets from its workloads with it.
type RPFilterMatch struct {
	base
	Loose, ValidMark, AcceptLocal, Invert bool
}

// ReverseRoute is the answer of a routing lookup towards a packet's source, for rpfilter.
type ReverseRoute struct {
	// Device is the interface the route leaves by.
	Device string
	// Unicast and Local say the route's type; anything else (a blackhole, no route) fails.
	Unicast, Local bool
}

func (m *RPFilterMatch) Eval(p *nf.Packet, env *Env) Result {
	// Packets looped back from the host itself always pass.
	if p.In == "lo" {
		return hit(!m.Invert)
	}
	if env == nil || env.RouteBack == nil || p.In == "" {
		return Unsure
	}
	var mark uint32
	if m.ValidMark {
		mark = p.Mark
	}
	r, ok := env.RouteBack(p.Src, mark)
	if !ok {
		return Unsure
	}
	pass := r.Unicast || (m.AcceptLocal && r.Local)
	pass = pass && (m.Loose || r.Device == p.In || r.Device == "lo")
	return hit(pass != m.Invert)
}

// parseRPFilter reads -m rpfilter.
func parseRPFilter(a *allocator, b base, opts []option) Match {
	m := &RPFilterMatch{base: b}
	for _, o := range opts {
		if len(o.args) != 0 || o.neg {
			return b.unknown("option " + o.name)
		}
		switch o.name {
		case "--loose":
			m.Loose = true
		case "--validmark":
			m.ValidMark = true
		case "--accept-local":
			m.AcceptLocal = true
		case "--invert":
			m.Invert = true
		default:
			return b.unknown("option " + o.name)
		}
	}
	return m
}
