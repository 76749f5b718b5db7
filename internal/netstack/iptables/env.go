package iptables

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/ipset"
)

// Env is what the evaluator needs to know about the namespace besides the packet: its
// local and broadcast addresses (addrtype), the interfaces' addresses (MASQUERADE, REDIRECT)
// and the ipsets (set).
type Env struct {
	// Local holds the addresses routed locally (table local, type local); LocalPrefixes
	// the local routes wider than one address (127.0.0.0/8).
	Local         map[netip.Addr]bool
	LocalPrefixes []netip.Prefix
	// Broadcast holds the broadcast addresses of the namespace's subnets.
	Broadcast map[netip.Addr]bool
	// Addrs holds each interface's addresses in the kernel's order (primary first).
	Addrs map[string][]netip.Prefix
	// Sets are the ipsets of the namespace; nil when there are none.
	Sets *ipset.Sets
	// Recent reports whether an address is on a recent-match list (session affinity) and
	// how long ago it was last seen there. Nil means no list has any entry: the packet is
	// a client's first.
	Recent func(list string, addr netip.Addr) (seen time.Duration, ok bool)

	// RouteBack routes towards a packet's source as rpfilter's reverse lookup does (with the
	// packet's mark, or 0); nil when the namespace's routes are not known, which leaves
	// rpfilter undecided.
	RouteBack func(src netip.Addr, mark uint32) (ReverseRoute, bool)

	// ConntrackInUse says that something besides the ruleset (nftables rules, ipvs, a
	// conntrack helper) makes the kernel track connections. Without it, and without a rule
	// that needs it (Ruleset.UsesConntrack), packets have no connection and the nat table
	// is skipped, as in the kernel.
	ConntrackInUse bool

	// MaxOutcomes, MaxSteps and MaxDepth bound a traversal; zero takes the defaults
	// (4096 outcomes, 1,000,000 rule evaluations, 64 nested jumps).
	MaxOutcomes, MaxSteps, MaxDepth int
}

// IsLocal reports whether addr is one of the namespace's own addresses.
func (e *Env) IsLocal(addr netip.Addr) bool {
	if e == nil {
		return false
	}
	if e.Local[addr] {
		return true
	}
	for _, p := range e.LocalPrefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// LocalOn reports whether addr is an address of the named interface.
func (e *Env) LocalOn(addr netip.Addr, iface string) bool {
	if e == nil {
		return false
	}
	for _, p := range e.Addrs[iface] {
		if p.Addr() == addr {
			return true
		}
	}
	return iface == "lo" && addr.IsLoopback()
}

// PrimaryAddr returns the address a packet leaving by iface towards nextHop takes as its
// source when masqueraded: the first address whose subnet holds the next hop, else the
// interface's first address.
func (e *Env) PrimaryAddr(iface string, nextHop netip.Addr) (netip.Addr, bool) {
	if e == nil {
		return netip.Addr{}, false
	}
	addrs := e.Addrs[iface]
	if nextHop.IsValid() {
		for _, p := range addrs {
			if p.Addr().Is4() == nextHop.Is4() && p.Masked().Contains(nextHop) {
				return p.Addr(), true
			}
		}
	}
	for _, p := range addrs {
		if p.Addr().Is4() == nextHop.Is4() || !nextHop.IsValid() {
			return p.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// RedirectAddr is where a REDIRECT (or nftables' redirect) sends a packet that came in by
// the interface in: the interface's primary address, or 127.0.0.1 for the host's own
// packets (no input interface).
func (e *Env) RedirectAddr(in string) (netip.Addr, bool) {
	if in == "" {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), true
	}
	return e.PrimaryAddr(in, netip.Addr{})
}

// EnvFromNetstack builds the evaluator's view of a namespace from its snapshot: the local
// and broadcast addresses from the local routing table (or, when the snapshot has none, the
// interfaces' addresses), each interface's addresses, and the ipsets.
func EnvFromNetstack(ns *netstack.Netstack) (*Env, error) {
	env := &Env{Local: map[netip.Addr]bool{}, Broadcast: map[netip.Addr]bool{}, Addrs: map[string][]netip.Prefix{}}
	for _, ifc := range ns.Interfaces {
		env.Addrs[ifc.Name] = append(env.Addrs[ifc.Name], ifc.Addresses...)
	}
	env.RouteBack = func(src netip.Addr, mark uint32) (ReverseRoute, bool) {
		res := ns.LookupRoute(netstack.RouteQuery{Dst: src, Mark: mark})
		if !res.Routed() {
			return ReverseRoute{}, true
		}
		return ReverseRoute{Device: res.Device, Unicast: res.Type == netstack.RouteUnicast, Local: res.Type == netstack.RouteLocal}, true
	}
	haveLocalTable := false
	for _, r := range ns.Routes {
		if r.Table != netstack.TableLocal {
			continue
		}
		haveLocalTable = true
		switch r.Type {
		case netstack.RouteLocal:
			if r.Dst.IsSingleIP() {
				env.Local[r.Dst.Addr()] = true
			} else {
				env.LocalPrefixes = append(env.LocalPrefixes, r.Dst.Masked())
			}
		case netstack.RouteBroadcast:
			env.Broadcast[r.Dst.Addr()] = true
		}
	}
	if !haveLocalTable {
		for _, ifc := range ns.Interfaces {
			for _, p := range ifc.Addresses {
				env.Local[p.Addr()] = true
				if p.Addr().Is4() && p.Bits() < 31 {
					env.Broadcast[lastAddr(p)] = true
				}
			}
			if ifc.Kind == "loopback" || ifc.Name == "lo" {
				env.LocalPrefixes = append(env.LocalPrefixes, netip.MustParsePrefix("127.0.0.0/8"))
			}
		}
	}
	if len(ns.Recent) > 0 {
		env.Recent = recentLists(ns.Recent)
	}
	if ns.IPSets != "" {
		sets, err := ipset.Parse(ns.IPSets)
		if err != nil {
			return env, fmt.Errorf("ipsets: %w", err)
		}
		env.Sets = sets
	}
	return env, nil
}

// recentLists answers Env.Recent from the lists the collector read.
func recentLists(entries []netstack.RecentEntry) func(string, netip.Addr) (time.Duration, bool) {
	type key struct {
		list string
		addr netip.Addr
	}
	seen := make(map[key]time.Duration, len(entries))
	for _, e := range entries {
		seen[key{e.List, e.Addr}] = time.Duration(e.SeenSecondsAgo * float64(time.Second))
	}
	return func(list string, addr netip.Addr) (time.Duration, bool) {
		d, ok := seen[key{list, addr}]
		return d, ok
	}
}

// lastAddr is the highest address of an IPv4 prefix, its broadcast address.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
