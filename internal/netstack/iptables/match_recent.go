package iptables

import "github.com/netdiag/netdiag/internal/netstack/nf"

// RecentMatch is -m recent, which kube-proxy uses for ClientIP session affinity. --set
// always matches (it records the address); --rcheck and --update match when Env.Recent
// says the address is on the list, which a connection's first packet is not.
type RecentMatch struct {
	base
	Name string
	// Op is "set", "rcheck", "update" or "remove".
	Op     string
	Source bool
	Not    bool
}

func (m *RecentMatch) Eval(p *nf.Packet, env *Env) Result {
	addr := p.Dst
	if m.Source {
		addr = p.Src
	}
	var ok bool
	switch m.Op {
	case "set":
		ok = true
	case "rcheck", "update", "remove":
		ok = env != nil && env.Recent != nil && env.Recent(m.Name, addr)
	}
	return hit(ok != m.Not)
}

// parseRecent reads -m recent.
func parseRecent(a *allocator, b base, opts []option) Match {
	m := &RecentMatch{base: b, Name: "DEFAULT", Source: true}
	for _, o := range opts {
		switch o.name {
		case "--set", "--rcheck", "--update", "--remove":
			m.Op, m.Not = o.name[2:], o.neg
		case "--name":
			if len(o.args) == 1 {
				m.Name = o.args[0]
			}
		case "--rsource":
			m.Source = true
		case "--rdest":
			m.Source = false
		case "--seconds", "--reap", "--hitcount", "--rttl", "--mask":
			// Refinements of the list lookup that Env.Recent answers.
		default:
			return b.unknown("option " + o.name)
		}
	}
	if m.Op == "" {
		return b.unknown("no operation")
	}
	return m
}
