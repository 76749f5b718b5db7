package iptables

import (
	"fmt"
	"net/netip"

	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/ipset"
)

// EnvFromNetstack builds the evaluator's view of a namespace from its snapshot: the local
// and broadcast addresses from the local routing table (or, when the snapshot has none, the
// interfaces' addresses), each interface's addresses, and the ipsets.
func EnvFromNetstack(ns *netstack.Netstack) (*Env, error) {
	env := &Env{Local: map[netip.Addr]bool{}, Broadcast: map[netip.Addr]bool{}, Addrs: map[string][]netip.Prefix{}}
	for _, ifc := range ns.Interfaces {
		env.Addrs[ifc.Name] = append(env.Addrs[ifc.Name], ifc.Addresses...)
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
	if ns.IPSets != "" {
		sets, err := ipset.Parse(ns.IPSets)
		if err != nil {
			return env, fmt.Errorf("ipsets: %w", err)
		}
		env.Sets = sets
	}
	return env, nil
}

// lastAddr is the highest address of an IPv4 prefix, its broadcast address.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
