package iptables

import (
	"strings"

	"github.com/netdiag/netdiag/internal/netstack/ipset"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// SetMatch is -m set --match-set.
type SetMatch struct {
	base
	Set string
	// Dirs are "src" or "dst" per dimension.
	Dirs          []string
	Not           bool
	ReturnNoMatch bool
}

func (m *SetMatch) Eval(p *nf.Packet, env *Env) Result {
	if env == nil || env.Sets == nil {
		return Unsure
	}
	probes := make([]ipset.Probe, len(m.Dirs))
	for i, d := range m.Dirs {
		if d == "src" {
			probes[i] = ipset.Probe{Addr: p.Src, Proto: p.Proto, Port: p.SrcPort, Mark: p.Mark, Iface: p.In}
		} else {
			probes[i] = ipset.Probe{Addr: p.Dst, Proto: p.Proto, Port: p.DstPort, Mark: p.Mark, Iface: p.Out}
		}
	}
	ok, err := env.Sets.Test(m.Set, probes)
	if err != nil {
		return Unsure
	}
	return hit(ok != m.Not)
}

// parseSet reads -m set.
func parseSet(a *allocator, b base, opts []option) Match {
	m := &SetMatch{base: b}
	for _, o := range opts {
		switch o.name {
		case "--match-set", "--set":
			if len(o.args) != 2 {
				return b.unknown("bad --match-set")
			}
			m.Set, m.Dirs, m.Not = o.args[0], strings.Split(o.args[1], ","), o.neg
			for _, d := range m.Dirs {
				if d != "src" && d != "dst" {
					return b.unknown("bad --match-set flags " + o.args[1])
				}
			}
		case "--return-nomatch":
			m.ReturnNoMatch = true
		case "--update-counters", "--update-subcounters":
			// Counter bookkeeping, no effect on the answer.
		default:
			return b.unknown("option " + o.name)
		}
	}
	if m.Set == "" {
		return b.unknown("no --match-set")
	}
	return m
}
