package iptables

import (
	"net/netip"
	"slices"
)

// minIndexedChain is the length from which a chain gets a destination index; a shorter
// chain is scanned as fast as it is looked up.
const minIndexedChain = 32

// dstIndex lets a walk skip the rules of a long chain that match one destination address
// other than the packet's. kube-proxy's KUBE-SERVICES holds one such rule per service port
// (`-d <cluster IP>/32 -p tcp --dport N`), so a packet to a pod would otherwise be compared
// with every service of the cluster on every node it crosses.
type dstIndex struct {
	// byDst holds, per address, the positions of the rules whose header matches that
	// destination alone; others the positions of every other rule. Both are ascending.
	byDst  map[netip.Addr][]int32
	others []int32
}

// indexDestinations gives every long chain of the ruleset its destination index.
func (rs *Ruleset) indexDestinations() {
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			if len(c.Rules) >= minIndexedChain {
				c.dsts = newDstIndex(c.Rules)
			}
		}
	}
}

func newDstIndex(rules []*Rule) *dstIndex {
	x := &dstIndex{byDst: map[netip.Addr][]int32{}}
	for i, r := range rules {
		if d := r.Header.Dst; d.IsValid() && d.IsSingleIP() && !r.Header.NotDst {
			x.byDst[d.Addr()] = append(x.byDst[d.Addr()], int32(i))
			continue
		}
		x.others = append(x.others, int32(i))
	}
	return x
}

// next is the position of the first rule at or after pos that may match a packet to dst,
// len(c.Rules) when none: the rules in between match another destination only. A chain
// without an index has every rule a candidate.
func (c *Chain) next(pos int, dst netip.Addr) int {
	x := c.dsts
	if x == nil || pos >= len(c.Rules) {
		return pos
	}
	best := len(c.Rules)
	if i, _ := slices.BinarySearch(x.others, int32(pos)); i < len(x.others) {
		best = int(x.others[i])
	}
	if l := x.byDst[dst]; len(l) > 0 {
		if i, _ := slices.BinarySearch(l, int32(pos)); i < len(l) {
			best = min(best, int(l[i]))
		}
	}
	return best
}
