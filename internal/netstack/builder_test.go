package netstack

import (
	"net/netip"
	"strconv"
	"strings"
)

// nsBuilder builds a Netstack for tests: MakeNetstack().Iface("eth0", 2, "10.0.0.1/24").
// Route("10.1.0.0/16 via 10.0.0.254 dev eth0").Obj(). Interfaces get the kernel's local,
// broadcast and connected routes for their addresses, as the kernel adds them.
type nsBuilder struct{ ns Netstack }

func MakeNetstack() *nsBuilder {
	b := &nsBuilder{ns: Netstack{Sysctls: map[string]string{}}}
	return b.Iface("lo", 1, "127.0.0.1/8")
}

func (b *nsBuilder) Iface(name string, index int, addrs ...string) *nsBuilder {
	ifc := Interface{Index: index, Name: name, Kind: "veth", MTU: 1500, Up: true, OperState: "up"}
	if name == "lo" {
		ifc.Kind, ifc.MTU, ifc.OperState = "loopback", 65536, "unknown"
	}
	for _, a := range addrs {
		p := netip.MustParsePrefix(a)
		ifc.Addresses = append(ifc.Addresses, p)
		b.ns.Routes = append(b.ns.Routes, Route{Table: TableLocal, Type: RouteLocal, Dst: netip.PrefixFrom(p.Addr(), 32),
			Device: name, Src: p.Addr(), Scope: "host", Protocol: "kernel"})
		if name == "lo" {
			b.ns.Routes = append(b.ns.Routes, Route{Table: TableLocal, Type: RouteLocal, Dst: p.Masked(), Device: name,
				Src: p.Addr(), Scope: "host", Protocol: "kernel"})
			continue
		}
		if p.Bits() < 31 {
			b.ns.Routes = append(b.ns.Routes, Route{Table: TableLocal, Type: RouteBroadcast, Dst: netip.PrefixFrom(lastAddr(p), 32),
				Device: name, Src: p.Addr(), Scope: "link", Protocol: "kernel"})
		}
		b.ns.Routes = append(b.ns.Routes, Route{Table: TableMain, Type: RouteUnicast, Dst: p.Masked(), Device: name,
			Src: p.Addr(), Scope: "link", Protocol: "kernel"})
	}
	b.ns.Interfaces = append(b.ns.Interfaces, ifc)
	return b
}

// With changes the last interface added.
func (b *nsBuilder) With(f func(*Interface)) *nsBuilder {
	f(&b.ns.Interfaces[len(b.ns.Interfaces)-1])
	return b
}

// Route adds a route written as `ip route add` takes it: [type] dst [via gw] [dev d]
// [table t] [metric m] [src s] [onlink] [scope s] [mtu m] [nexthop via gw dev d]...
func (b *nsBuilder) Route(spec string) *nsBuilder {
	f := strings.Fields(spec)
	r := Route{Table: TableMain, Type: RouteUnicast}
	switch f[0] {
	case RouteBlackhole, RouteUnreachable, RouteProhibit, RouteThrow, RouteLocal, RouteBroadcast:
		r.Type, f = f[0], f[1:]
	}
	if f[0] == "default" {
		r.Dst = netip.MustParsePrefix("0.0.0.0/0")
	} else {
		r.Dst = netip.MustParsePrefix(f[0])
	}
	var nh *NextHop
	for i := 1; i < len(f); i++ {
		switch f[i] {
		case "via":
			i++
			if nh != nil {
				nh.Gateway = netip.MustParseAddr(f[i])
			} else {
				r.Gateway = netip.MustParseAddr(f[i])
			}
		case "dev":
			i++
			if nh != nil {
				nh.Device = f[i]
			} else {
				r.Device = f[i]
			}
		case "table":
			i++
			r.Table, _ = parseTable(f[i])
		case "metric":
			i++
			r.Metric = atoi(f[i])
		case "mtu":
			i++
			r.MTU = atoi(f[i])
		case "src":
			i++
			r.Src = netip.MustParseAddr(f[i])
		case "scope":
			i++
			r.Scope = f[i]
		case "onlink":
			r.OnLink = true
		case "linkdown", "dead":
			if nh != nil {
				nh.Flags = append(nh.Flags, f[i])
			} else {
				r.Flags = append(r.Flags, f[i])
			}
		case "nexthop":
			r.NextHops = append(r.NextHops, NextHop{Weight: 1})
			nh = &r.NextHops[len(r.NextHops)-1]
		default:
			panic("route spec: " + f[i])
		}
	}
	if r.Type == RouteUnicast && !r.Gateway.IsValid() && len(r.NextHops) == 0 && r.Scope == "" {
		r.Scope = "link"
	}
	b.ns.Routes = append(b.ns.Routes, r)
	return b
}

// Rule adds a rule written as `ip rule add` takes it: pref p [not] [from p] [to p] [iif d]
// [oif d] [fwmark m[/mask]] [ipproto n] [dport a[-b]] (lookup t | goto p | nop |
// blackhole | unreachable | prohibit) [suppress_prefixlength n]. The first rule added
// brings the kernel's three default rules.
func (b *nsBuilder) Rule(spec string) *nsBuilder {
	if len(b.ns.Rules) == 0 {
		b.ns.Rules = DefaultRules(true)
	}
	f := strings.Fields(spec)
	r := Rule{Family: "inet"}
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case "pref":
			i++
			r.Priority = atoi(f[i])
		case "not":
			r.Invert = true
		case "from":
			i++
			r.Src = netip.MustParsePrefix(f[i])
		case "to":
			i++
			r.Dst = netip.MustParsePrefix(f[i])
		case "iif":
			i++
			r.IIF = f[i]
		case "oif":
			i++
			r.OIF = f[i]
		case "fwmark":
			i++
			m, mask, _ := strings.Cut(f[i], "/")
			r.Mark = uint32(atoi(m))
			if mask != "" {
				r.Mask = uint32(atoi(mask))
			}
		case "ipproto":
			i++
			r.IPProto = atoi(f[i])
		case "dport":
			i++
			lo, hi, _ := strings.Cut(f[i], "-")
			r.DPortStart, r.DPortEnd = atoi(lo), atoi(lo)
			if hi != "" {
				r.DPortEnd = atoi(hi)
			}
		case "lookup":
			i++
			r.Action = RuleToTable
			r.Table, _ = parseTable(f[i])
		case "goto":
			i++
			r.Action, r.Goto = RuleGoto, atoi(f[i])
		case RuleNop, RuleBlackhole, RuleUnreachable, RuleProhibit:
			r.Action = f[i]
		case "suppress_prefixlength":
			i++
			n := atoi(f[i])
			r.SuppressPrefixLength = &n
		default:
			panic("rule spec: " + f[i])
		}
	}
	b.ns.Rules = append(b.ns.Rules, r)
	return b
}

func (b *nsBuilder) Sysctl(key, value string) *nsBuilder {
	b.ns.Sysctls[key] = value
	return b
}

func (b *nsBuilder) Neighbour(dev, ip, mac, state string) *nsBuilder {
	b.ns.Neighbours = append(b.ns.Neighbours, Neighbour{Device: dev, IP: netip.MustParseAddr(ip), HardwareAddr: mac, State: state})
	return b
}

func (b *nsBuilder) FDB(dev, mac, dst string) *nsBuilder {
	e := FDBEntry{Device: dev, HardwareAddr: mac}
	if dst != "" {
		e.Dst = netip.MustParseAddr(dst)
	}
	b.ns.FDB = append(b.ns.FDB, e)
	return b
}

func (b *nsBuilder) Obj() *Netstack { return &b.ns }

func atoi(s string) int {
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		panic(err)
	}
	return int(v)
}
