package bundle

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// addrMap maps addresses to addresses in documentation and reserved ranges. Every prefix
// the bundle names that no other contains (a top prefix) gets a block of its own size, and
// an address inside it keeps its host bits: whatever contains or is contained in a top
// prefix stays so, so routes, rules and selectors still match the addresses they matched.
type addrMap struct {
	prefixes map[netip.Prefix]bool
	addrs    map[netip.Addr]bool
	// to says where each top prefix goes; tops are disjoint. lengths are their lengths.
	to      map[netip.Prefix]netip.Prefix
	lengths []int
}

// pools are where addresses go: the documentation ranges (RFC 5737, RFC 3849) for what
// fits, then the benchmarking range (RFC 2544) and the reserved 240.0.0.0/4 (RFC 1112) for
// larger prefixes. None is in use on the Internet.
var pools = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/5"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// kept reports whether an address keeps its value: the kernel treats these apart, and
// none tells anything about a cluster.
func kept(a netip.Addr) bool {
	return !a.IsValid() || a.IsUnspecified() || a.IsLoopback() || a.IsLinkLocalUnicast() ||
		a.IsMulticast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() ||
		a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || a.Is4In6()
}

// keptPrefix reports whether a prefix keeps its value: one of the special ranges, or one so
// wide (the default route, 0.0.0.0/1 ...) that no pool holds it.
func keptPrefix(p netip.Prefix) bool {
	return kept(p.Addr()) || (p.Addr().Is4() && p.Bits() < 8) || (p.Addr().Is6() && p.Bits() < 32)
}

func (m *addrMap) collect(s string) {
	if m.prefixes == nil {
		m.prefixes, m.addrs = map[netip.Prefix]bool{}, map[netip.Addr]bool{}
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		if !keptPrefix(p) {
			m.prefixes[p.Masked()] = true
		}
		return
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return
		}
		a = ap.Addr()
	}
	if !kept(a) {
		m.addrs[a] = true
	}
}

// allocate places every top prefix, the widest first, and an address outside all of them
// as a top prefix of its own.
func (m *addrMap) allocate() error {
	all := make([]netip.Prefix, 0, len(m.prefixes)+len(m.addrs))
	for p := range m.prefixes {
		all = append(all, p)
	}
	for a := range m.addrs {
		all = append(all, netip.PrefixFrom(a, a.BitLen()))
	}
	slices.SortFunc(all, func(a, b netip.Prefix) int {
		return cmp.Or(cmp.Compare(a.Bits(), b.Bits()), a.Addr().Compare(b.Addr()))
	})
	next := make([]netip.Addr, len(pools))
	for i, p := range pools {
		next[i] = p.Addr()
	}
	m.to = map[netip.Prefix]netip.Prefix{}
	for _, p := range all {
		if m.top(p.Addr()) != nil {
			continue
		}
		to, ok := place(p, next)
		if !ok {
			return fmt.Errorf("no room to redact the addresses of %s: the bundle names too many networks this wide", p)
		}
		m.to[p] = to
		if !slices.Contains(m.lengths, p.Bits()) {
			m.lengths = append(m.lengths, p.Bits())
		}
	}
	return nil
}

// place takes the next free block of p's size from the first pool of p's family that holds
// it; next is each pool's first free address.
func place(p netip.Prefix, next []netip.Addr) (netip.Prefix, bool) {
	for i, pool := range pools {
		if pool.Addr().Is4() != p.Addr().Is4() || pool.Bits() > p.Bits() || !next[i].IsValid() {
			continue
		}
		start := alignUp(next[i], p.Bits())
		if !start.IsValid() || !pool.Contains(start) {
			continue
		}
		block := netip.PrefixFrom(start, p.Bits())
		next[i] = afterBlock(block)
		if next[i].IsValid() && !pool.Contains(next[i]) {
			next[i] = netip.Addr{}
		}
		return block, true
	}
	return netip.Prefix{}, false
}

// alignUp is the first address at or after a that starts a block of length bits.
func alignUp(a netip.Addr, bits int) netip.Addr {
	b := netip.PrefixFrom(a, bits).Masked()
	if b.Addr() == a {
		return a
	}
	return afterBlock(b)
}

// afterBlock is the first address after the block, invalid past the end of the family.
func afterBlock(b netip.Prefix) netip.Addr {
	raw := b.Masked().Addr().AsSlice()
	// Add one at the block's lowest network bit, carrying up.
	bit := b.Bits() - 1
	for bit >= 0 {
		byteI, mask := bit/8, byte(1)<<(7-bit%8)
		if raw[byteI]&mask == 0 {
			raw[byteI] |= mask
			a, _ := netip.AddrFromSlice(raw)
			return a
		}
		raw[byteI] &^= mask
		bit--
	}
	return netip.Addr{}
}

// top returns the top prefix that holds a, nil when none does. Tops are disjoint, so one
// look-up per prefix length they have finds it.
func (m *addrMap) top(a netip.Addr) *netip.Prefix {
	for _, bits := range m.lengths {
		if bits > a.BitLen() {
			continue
		}
		p := netip.PrefixFrom(a, bits).Masked()
		if _, ok := m.to[p]; ok {
			return &p
		}
	}
	return nil
}

// mapAddr is where a goes: its top prefix's block with a's host bits.
func (m *addrMap) mapAddr(a netip.Addr) netip.Addr {
	if kept(a) {
		return a
	}
	t := m.top(a)
	if t == nil {
		return a
	}
	to := m.to[*t].Addr().AsSlice()
	from := a.AsSlice()
	for bit := t.Bits(); bit < a.BitLen(); bit++ {
		byteI, mask := bit/8, byte(1)<<(7-bit%8)
		to[byteI] = to[byteI]&^mask | from[byteI]&mask
	}
	out, _ := netip.AddrFromSlice(to)
	return out
}

// redact rewrites s when it is an address, a prefix or an address:port.
func (m *addrMap) redact(s string) (string, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if keptPrefix(p) {
			return s, true
		}
		return netip.PrefixFrom(m.mapAddr(p.Addr()), p.Bits()).String(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return m.mapAddr(a).String(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(m.mapAddr(ap.Addr()), ap.Port()).String(), true
	}
	return "", false
}
