package iptables

import (
	"math"
	"strconv"

	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// StatisticMatch is -m statistic. It holds for a share of the packets: the walk follows
// the rule both matched and not matched, each branch weighted by Probability.
type StatisticMatch struct {
	base
	// Mode is "random" or "nth".
	Mode        string
	Probability float64
	Every       int
	Packet      int
	Not         bool
}

// Share is the fraction of packets the match holds for.
func (m *StatisticMatch) Share() float64 {
	p := m.Probability
	if m.Mode == "nth" {
		p = 1 / float64(max(m.Every, 1))
	}
	if m.Not {
		p = 1 - p
	}
	return p
}

func (m *StatisticMatch) Eval(*nf.Packet, *Env) Result {
	switch s := m.Share(); {
	case s <= 0:
		return Miss
	case s >= 1:
		return Hit
	}
	return Branch
}

// parseStatistic reads -m statistic.
func parseStatistic(a *allocator, b base, opts []option) Match {
	m := a.statistic()
	*m = StatisticMatch{base: b}
	for _, o := range opts {
		if len(o.args) != 1 {
			return b.unknown("option " + o.name)
		}
		switch o.name {
		case "--mode":
			m.Mode = o.args[0]
		case "--probability":
			f, err := strconv.ParseFloat(o.args[0], 64)
			if err != nil || math.IsNaN(f) {
				return b.unknown("probability " + o.args[0])
			}
			m.Probability, m.Not = f, o.neg
		case "--every":
			n, err := strconv.Atoi(o.args[0])
			if err != nil || n < 1 {
				return b.unknown("every " + o.args[0])
			}
			m.Every, m.Not = n, o.neg
		case "--packet":
			n, err := strconv.Atoi(o.args[0])
			if err != nil {
				return b.unknown("packet " + o.args[0])
			}
			m.Packet = n
		default:
			return b.unknown("option " + o.name)
		}
	}
	if m.Mode != "random" && m.Mode != "nth" {
		return b.unknown("mode " + m.Mode)
	}
	return m
}
