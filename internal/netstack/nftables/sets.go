package nftables

import (
	"fmt"
	"net/netip"
	"strings"
)

// pat is one part of a set element: a value, a prefix or a range.
type pat struct {
	exact  scalar
	prefix netip.Prefix
	lo, hi scalar
	kind   int // 0 exact, 1 prefix, 2 range
}

func (p pat) has(x scalar) bool {
	switch p.kind {
	case 1:
		return x.k == kAddr && p.prefix.Contains(x.a)
	case 2:
		if x.k == kAddr && p.lo.k == kAddr {
			return !x.a.Less(p.lo.a) && !p.hi.a.Less(x.a)
		}
		return x.k == kNum && x.n >= p.lo.n && x.n <= p.hi.n
	}
	return x == p.exact
}

// setCache holds a set's elements read with the hints of the expression that looks them up.
type setCache struct {
	exact    map[string]int
	patterns [][]pat
	index    []int
}

func key(vals []scalar) string {
	if len(vals) == 1 {
		return vals[0].String()
	}
	var b strings.Builder
	for i, v := range vals {
		if i > 0 {
			b.WriteString(" . ")
		}
		b.WriteString(v.String())
	}
	return b.String()
}

func buildCache(elems []Elem, hints []hint) (*setCache, bool) {
	c := &setCache{exact: map[string]int{}}
	for i, e := range elems {
		parts := []any{e.Key}
		if m, ok := e.Key.(map[string]any); ok {
			if cc, ok := m["concat"].([]any); ok {
				parts = cc
			}
		}
		if len(parts) != len(hints) {
			return nil, false
		}
		pats := make([]pat, len(parts))
		allExact := true
		for j, part := range parts {
			p, ok := pattern(part, hints[j])
			if !ok {
				return nil, false
			}
			pats[j] = p
			allExact = allExact && p.kind == 0
		}
		if allExact {
			vals := make([]scalar, len(pats))
			for j := range pats {
				vals[j] = pats[j].exact
			}
			c.exact[key(vals)] = i
			continue
		}
		c.patterns = append(c.patterns, pats)
		c.index = append(c.index, i)
	}
	return c, true
}

// setRef is a compiled reference to a set or map: its elements, read as the key reads
// them, and for a verdict map each element's verdict.
type setRef struct {
	elems []Elem
	cache *setCache
	vs    []verdict
}

// lookup finds vals among the elements; the index of the element found.
func (r *setRef) lookup(vals []scalar) (int, bool) {
	if i, ok := r.cache.exact[key(vals)]; ok {
		return i, true
	}
	for n, pats := range r.cache.patterns {
		all := true
		for j, p := range pats {
			if !p.has(vals[j]) {
				all = false
				break
			}
		}
		if all {
			return r.cache.index[n], true
		}
	}
	return 0, false
}

// pattern reads one part of a set element or a match's right side: a value, a prefix or a
// range.
func pattern(v any, h hint) (pat, bool) {
	if m, ok := v.(map[string]any); ok {
		if pr, ok := m["prefix"].(map[string]any); ok {
			a, err := netip.ParseAddr(fmt.Sprint(pr["addr"]))
			if err != nil {
				return pat{}, false
			}
			p := netip.PrefixFrom(a, int(num(pr["len"])))
			return pat{kind: 1, prefix: p.Masked()}, p.IsValid()
		}
		if rg, ok := m["range"].([]any); ok && len(rg) == 2 {
			lo, ok1 := literal(rg[0], h)
			hi, ok2 := literal(rg[1], h)
			return pat{kind: 2, lo: lo, hi: hi}, ok1 && ok2
		}
		return pat{}, false
	}
	sc, ok := literal(v, h)
	return pat{exact: sc}, ok
}

// cacheFor returns the set's elements read with hints, built once per way of reading them.
func (s *Set) cacheFor(hints []hint) (*setCache, bool) {
	k := fmt.Sprint(hints)
	if c, ok := s.caches[k]; ok {
		return c, c != nil
	}
	c, ok := buildCache(s.Elems, hints)
	if !ok {
		c = nil
	}
	if s.caches == nil {
		s.caches = map[string]*setCache{}
	}
	s.caches[k] = c
	return c, ok
}
