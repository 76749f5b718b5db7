package netstack

import (
	"cmp"
	"net/netip"
	"slices"
)

// routeIndex holds a namespace's routes by table and prefix, so a lookup costs a map probe
// per prefix length in use instead of a scan of every route for every rule consulted.
//
// A snapshot read from a file or a ConfigMap is indexed once, before it is shared (Index);
// the index remembers the Routes and Rules slices it was built from, and a namespace whose
// slices were replaced or resized since (a test's fault, a state built in code) is indexed
// afresh for each lookup instead. Editing a route's table, destination or metric in place
// after Index is not seen.
type routeIndex struct {
	tables map[tableKey]*tableIndex
	rules4 []Rule
	rules6 []Rule
	custom [2]bool // custom rules for IPv4, IPv6
	// customLocal: someone added a local route by hand.
	customLocal bool
	// of identifies the slices the index was built from.
	of indexKey
}

type tableKey struct {
	table int
	v4    bool
}

// tableIndex is one table of one family: its prefix lengths in use, longest first, and the
// routes of each prefix in the kernel's order (lowest metric first, then as listed).
type tableIndex struct {
	bits     []int
	byPrefix map[netip.Prefix][]int32
}

type indexKey struct {
	routes  *Route
	nroutes int
	rules   *Rule
	nrules  int
}

func (n *Netstack) key() indexKey {
	k := indexKey{nroutes: len(n.Routes), nrules: len(n.Rules)}
	if len(n.Routes) > 0 {
		k.routes = &n.Routes[0]
	}
	if len(n.Rules) > 0 {
		k.rules = &n.Rules[0]
	}
	return k
}

// Index builds the namespace's route index, so that every lookup after uses it. Call it
// once, before the namespace is shared between goroutines: lookups only read it.
func (n *Netstack) Index() { n.index = n.buildIndex() }

// Index indexes the node's namespace and every pod's.
func (s *NodeSnapshot) Index() {
	s.Host.Index()
	for i := range s.Pods {
		s.Pods[i].Index()
	}
}

func (n *Netstack) idx() *routeIndex {
	if x := n.index; x != nil && x.of == n.key() {
		return x
	}
	return n.buildIndex()
}

func (n *Netstack) buildIndex() *routeIndex {
	x := &routeIndex{tables: map[tableKey]*tableIndex{}, of: n.key()}
	for i := range n.Routes {
		r := &n.Routes[i]
		if !r.Dst.IsValid() {
			continue
		}
		k := tableKey{r.Table, r.Dst.Addr().Is4()}
		t := x.tables[k]
		if t == nil {
			t = &tableIndex{byPrefix: map[netip.Prefix][]int32{}}
			x.tables[k] = t
		}
		p := r.Dst.Masked()
		if _, ok := t.byPrefix[p]; !ok && !slices.Contains(t.bits, p.Bits()) {
			t.bits = append(t.bits, p.Bits())
		}
		t.byPrefix[p] = append(t.byPrefix[p], int32(i))
		if r.Type == RouteLocal && r.Protocol != "" && r.Protocol != "kernel" {
			x.customLocal = true
		}
	}
	for _, t := range x.tables {
		slices.SortFunc(t.bits, func(a, b int) int { return b - a })
		for _, rs := range t.byPrefix {
			slices.SortStableFunc(rs, func(a, b int32) int { return cmp.Compare(n.Routes[a].Metric, n.Routes[b].Metric) })
		}
	}
	for _, v4 := range []bool{true, false} {
		var rules []Rule
		for _, r := range n.Rules {
			if ruleIs4(r) == v4 {
				rules = append(rules, r)
			}
		}
		if len(rules) == 0 {
			rules = DefaultRules(v4)
		}
		slices.SortStableFunc(rules, func(a, b Rule) int { return cmp.Compare(a.Priority, b.Priority) })
		custom := customRules(rules, v4)
		if v4 {
			x.rules4, x.custom[0] = rules, custom
		} else {
			x.rules6, x.custom[1] = rules, custom
		}
	}
	return x
}

// candidates are the routes of the tables that contain dst, in the order the kernel tries
// them: longest prefix first; within a prefix the local table before main (they share one
// trie when merged), then by metric.
func (x *routeIndex) candidates(routes []Route, tables []int, dst netip.Addr, yield func(*Route) bool) {
	v4 := dst.Is4()
	var tis []*tableIndex
	for _, t := range tables {
		if ti := x.tables[tableKey{t, v4}]; ti != nil {
			tis = append(tis, ti)
		}
	}
	if len(tis) == 1 {
		for _, bits := range tis[0].bits {
			p, _ := dst.Prefix(bits)
			for _, i := range tis[0].byPrefix[p] {
				if !yield(&routes[i]) {
					return
				}
			}
		}
		return
	}
	var bitsUsed []int
	for _, ti := range tis {
		for _, b := range ti.bits {
			if !slices.Contains(bitsUsed, b) {
				bitsUsed = append(bitsUsed, b)
			}
		}
	}
	slices.SortFunc(bitsUsed, func(a, b int) int { return b - a })
	for _, bits := range bitsUsed {
		p, _ := dst.Prefix(bits)
		var rs []*Route
		for _, ti := range tis {
			for _, i := range ti.byPrefix[p] {
				rs = append(rs, &routes[i])
			}
		}
		slices.SortStableFunc(rs, func(a, b *Route) int {
			return cmp.Or(cmp.Compare(b.Table, a.Table), cmp.Compare(a.Metric, b.Metric))
		})
		for _, r := range rs {
			if !yield(r) {
				return
			}
		}
	}
}
