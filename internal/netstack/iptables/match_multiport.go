package iptables

import (
	"strings"

	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// MultiportMatch is -m multiport.
type MultiportMatch struct {
	base
	// Dir is "s", "d" or "" for either.
	Dir    string
	Ranges []PortRange
	Not    bool
}

func (m *MultiportMatch) Eval(p *nf.Packet, _ *Env) Result {
	switch p.Proto {
	case nf.ProtoTCP, nf.ProtoUDP, nf.ProtoSCTP, 136:
	default:
		return Miss
	}
	in := func(port uint16) bool {
		for _, r := range m.Ranges {
			if r.has(port) {
				return true
			}
		}
		return false
	}
	var ok bool
	switch m.Dir {
	case "s":
		ok = in(p.SrcPort)
	case "d":
		ok = in(p.DstPort)
	default:
		ok = in(p.SrcPort) || in(p.DstPort)
	}
	return hit(ok != m.Not)
}

// parseMultiport reads -m multiport.
func parseMultiport(a *allocator, b base, opts []option) Match {
	m := &MultiportMatch{base: b}
	for _, o := range opts {
		switch o.name {
		case "--dports", "--destination-ports":
			m.Dir = "d"
		case "--sports", "--source-ports":
			m.Dir = "s"
		case "--ports":
			m.Dir = ""
		default:
			return b.unknown("option " + o.name)
		}
		if len(o.args) != 1 {
			return b.unknown("bad port list")
		}
		for part := range strings.SplitSeq(o.args[0], ",") {
			r, ok := parsePortRange([]string{part})
			if !ok {
				return b.unknown("bad port " + part)
			}
			m.Ranges = append(m.Ranges, r)
		}
		m.Not = o.neg
	}
	return m
}
