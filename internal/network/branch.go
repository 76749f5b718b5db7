package network

import (
	"net/netip"
	"slices"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin"
)

// The walk keeps each branch of the packet's way as it goes, so that a person can read one
// branch from the source to its end instead of every NetNode's steps for all of them at once.

// trail is a branch as far as the walk has followed it: its last hop, back to the source.
type trail struct {
	parent *trail
	hop    model.BranchHop
	// fork is the branch's place among the ways its NetNode sent the packet on, which
	// orders the branches as they fork.
	fork int
}

func (t *trail) extend(hops []model.BranchHop, fork int) *trail {
	for i, h := range hops {
		f := 0
		if i == 0 {
			f = fork
		}
		t = &trail{parent: t, hop: h, fork: f}
	}
	return t
}

// finished is a branch that ended, with the forks that order it.
type finished struct {
	branch model.Branch
	forks  []int
}

func (t *trail) finish(end plugin.End) finished {
	var f finished
	for at := t; at != nil; at = at.parent {
		f.branch.Hops = append(f.branch.Hops, at.hop)
		f.forks = append(f.forks, at.fork)
	}
	slices.Reverse(f.branch.Hops)
	slices.Reverse(f.forks)
	f.branch.End, f.branch.Why = string(end.Kind), end.Why
	return f
}

// sortBranches orders the branches as they fork, the first way of each fork first.
func sortBranches(fs []finished) []model.Branch {
	slices.SortStableFunc(fs, func(a, b finished) int { return slices.Compare(a.forks, b.forks) })
	out := make([]model.Branch, len(fs))
	for i, f := range fs {
		out[i] = f.branch
	}
	return out
}

// way is one way a visit sent the packet on (a transmission) or ended it, with the packets
// that are its own.
type way struct {
	next *plugin.Transmission
	end  *plugin.End
	pkts []model.Packet
}

// visitWays splits what one NetNode did (r, for the packet in that arrived by link, nil at
// the source) into the hops of each way it sent the packet on and of each branch it ended:
// the transmissions first, in order, then the ends. A NetNode that forks the packet (a
// service's DNAT to one of several endpoints) recorded the steps of all its ways together;
// a way's steps are those of its own packets, of the packet as it arrived, and of a packet
// between the two (translated further on the way) that has the way's destination.
func visitWays(node string, link *model.Link, in model.Packet, reply bool, r *plugin.HopResult) ([]way, [][]model.BranchHop) {
	var ways []way
	for _, n := range r.Next {
		w := way{next: n, pkts: []model.Packet{n.Packet}}
		if n.Outer != nil {
			w.pkts = append(w.pkts, *n.Outer)
		}
		ways = append(ways, w)
	}
	for i := range r.Ends {
		ways = append(ways, way{end: &r.Ends[i], pkts: []model.Packet{r.Ends[i].Packet}})
	}
	// Each step goes to the ways it belongs to, decided once per step: a NetNode that
	// forks a packet to a thousand endpoints records thousands of steps.
	owners := map[model.Packet][]int{}
	byDst := map[netip.AddrPort][]int{}
	for i, w := range ways {
		for _, p := range w.pkts {
			owners[p] = append(owners[p], i)
			byDst[destination(p)] = append(byDst[destination(p)], i)
		}
	}
	steps := make([][]model.Step, len(ways))
	for _, s := range r.Steps {
		to := owners[s.Packet]
		switch {
		case len(ways) == 1 || s.Packet == in:
			to = nil
		case to == nil:
			// A packet between the one that arrived and a way's own: the way with its
			// destination, or every way when none has it.
			to = byDst[destination(s.Packet)]
		}
		if to == nil {
			for i := range steps {
				steps[i] = append(steps[i], s)
			}
			continue
		}
		for _, i := range slices.Compact(to) {
			steps[i] = append(steps[i], s)
		}
	}
	hops := make([][]model.BranchHop, len(ways))
	for i := range ways {
		hops[i] = turn(model.BranchHop{NodeID: node, Reply: reply, In: link}, steps[i])
	}
	return ways, hops
}

func destination(p model.Packet) netip.AddrPort { return netip.AddrPortFrom(p.Dst, p.DstPort) }

// turn splits the steps of a forward packet's destination, which answers in the same visit,
// into the forward packet's last hop and the reply's first: the reply starts at the first
// step whose packet answers one seen before it.
func turn(h model.BranchHop, steps []model.Step) []model.BranchHop {
	if !h.Reply {
		var answers []model.Packet
		for i, s := range steps {
			if slices.Contains(answers, s.Packet) {
				fwd, rep := h, model.BranchHop{NodeID: h.NodeID, Reply: true}
				fwd.Steps, rep.Steps = steps[:i:i], steps[i:]
				return []model.BranchHop{withChoice(fwd), withChoice(rep)}
			}
			answers = append(answers, s.Packet.Reply())
		}
	}
	h.Steps = steps
	return []model.BranchHop{withChoice(h)}
}

// withChoice sets the hop's load-balancing choice: its first step that forks.
func withChoice(h model.BranchHop) model.BranchHop {
	if i := slices.IndexFunc(h.Steps, model.Step.Forks); i >= 0 {
		h.Choice = &h.Steps[i]
	}
	return h
}
