package iptables

import (
	"net/netip"
	"strings"

	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// Address types of -m addrtype.
const (
	AddrUnicast uint16 = 1 << iota
	AddrLocal
	AddrBroadcast
	AddrAnycast
	AddrMulticast
	AddrBlackhole
	AddrUnreachable
	AddrProhibit
	AddrThrow
	AddrNAT
	AddrXResolve
	AddrUnspec
)

var addrTypes = map[string]uint16{
	"UNSPEC": AddrUnspec, "UNICAST": AddrUnicast, "LOCAL": AddrLocal, "BROADCAST": AddrBroadcast,
	"ANYCAST": AddrAnycast, "MULTICAST": AddrMulticast, "BLACKHOLE": AddrBlackhole,
	"UNREACHABLE": AddrUnreachable, "PROHIBIT": AddrProhibit, "THROW": AddrThrow, "NAT": AddrNAT,
	"XRESOLVE": AddrXResolve,
}

// AddrTypeMatch is -m addrtype.
type AddrTypeMatch struct {
	base
	Src, Dst       uint16
	NotSrc, NotDst bool
	// LimitIn and LimitOut restrict LOCAL to the input or output interface's addresses.
	LimitIn, LimitOut bool
}

// addrType classifies an address as the kernel's route types would, from the env.
func addrType(a netip.Addr, env *Env, iface string) (uint16, bool) {
	switch {
	case env.IsLocal(a) && (iface == "" || env.LocalOn(a, iface)):
		return AddrLocal, true
	case a.IsMulticast():
		return AddrMulticast, true
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || env != nil && env.Broadcast[a]:
		return AddrBroadcast, true
	case env.IsLocal(a):
		// Local, but not on the interface the match is limited to.
		return AddrUnicast, true
	}
	return AddrUnicast, true
}

func (m *AddrTypeMatch) Eval(p *nf.Packet, env *Env) Result {
	check := func(types uint16, not bool, a netip.Addr) Result {
		if types == 0 {
			return Hit
		}
		known := AddrUnicast | AddrLocal | AddrBroadcast | AddrMulticast
		if types&^known != 0 {
			return Unsure
		}
		iface := ""
		if m.LimitIn {
			iface = p.In
		} else if m.LimitOut {
			iface = p.Out
		}
		t, _ := addrType(a, env, iface)
		return hit((t&types != 0) != not)
	}
	if r := check(m.Src, m.NotSrc, p.Src); r != Hit {
		return r
	}
	return check(m.Dst, m.NotDst, p.Dst)
}

// parseAddrType reads -m addrtype.
func parseAddrType(a *allocator, b base, opts []option) Match {
	m := &AddrTypeMatch{base: b}
	for _, o := range opts {
		switch o.name {
		case "--src-type", "--dst-type":
			var bits uint16
			for _, a := range o.args {
				for t := range strings.SplitSeq(a, ",") {
					bit, ok := addrTypes[t]
					if !ok {
						return b.unknown("address type " + t)
					}
					bits |= bit
				}
			}
			if o.name == "--src-type" {
				m.Src, m.NotSrc = bits, o.neg
			} else {
				m.Dst, m.NotDst = bits, o.neg
			}
		case "--limit-iface-in":
			m.LimitIn = true
		case "--limit-iface-out":
			m.LimitOut = true
		default:
			return b.unknown("option " + o.name)
		}
	}
	return m
}
