package iptables

import (
	"strconv"
	"time"

	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// RecentMatch is -m recent, which kube-proxy uses for ClientIP session affinity. --set
// always matches (it records the address); --rcheck and --update match when Env.Recent
// has the address on the list, seen within --seconds when the rule says so. A client's
// first connection is on no list.
type RecentMatch struct {
	base
	Name string
	// Op is "set", "rcheck", "update" or "remove".
	Op     string
	Source bool
	Not    bool
	// Seconds is --seconds: the address must have been seen that recently; 0 is any time.
	Seconds int
}

func (m *RecentMatch) Eval(p *nf.Packet, env *Env) Result {
	return hit(m.Listed(p, env) != m.Not)
}

// Listed reports whether the packet's address is on the list as this match asks: always
// for --set, which puts it there.
func (m *RecentMatch) Listed(p *nf.Packet, env *Env) bool {
	if m.Op == "set" {
		return true
	}
	addr := p.Dst
	if m.Source {
		addr = p.Src
	}
	if env == nil || env.Recent == nil {
		return false
	}
	seen, ok := env.Recent(m.Name, addr)
	return ok && (m.Seconds == 0 || seen < time.Duration(m.Seconds)*time.Second)
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
		case "--seconds":
			n := -1
			if len(o.args) == 1 {
				n, _ = strconv.Atoi(o.args[0])
			}
			if n < 0 {
				return b.unknown("option --seconds without a number of seconds")
			}
			m.Seconds = n
		case "--reap", "--mask":
			// --reap forgets what --seconds no longer matches; kube-proxy's --mask keeps
			// the whole address.
		default:
			// --hitcount and --rttl ask what the list does not keep.
			return b.unknown("option " + o.name)
		}
	}
	if m.Op == "" {
		return b.unknown("no operation")
	}
	return m
}
