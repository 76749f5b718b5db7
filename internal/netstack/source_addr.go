package netstack

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// prefSrc is fib_result_prefsrc: the route's src, else the first primary address of the
// output device (one in the gateway's subnet preferred) whose scope suits the route's.
func (n *Netstack) prefSrc(r *Route, nh NextHop) netip.Addr {
	if r.Src.IsValid() {
		return r.Src
	}
	dev := n.InterfaceByName(nh.Device)
	if dev == nil {
		return netip.Addr{}
	}
	return n.selectAddr(dev, nh.Gateway, routeScope(r))
}

// selectAddr is inet_select_addr: a primary address of dev of the right scope, one whose
// subnet holds dst preferred; failing that, the first such address of any device in
// ifindex order.
func (n *Netstack) selectAddr(dev *Interface, dst netip.Addr, scope int) netip.Addr {
	v4 := !dst.IsValid() || dst.Is4()
	localnet := scopeHost
	if n.confOr(dev.Name, "route_localnet") {
		localnet = scopeLink
	}
	var first netip.Addr
	for _, p := range primaryAddrs(dev) {
		if p.Addr().Is4() != v4 || min(addrScope(p.Addr()), localnet) > scope {
			continue
		}
		if !dst.IsValid() || p.Contains(dst) {
			return p.Addr()
		}
		if !first.IsValid() {
			first = p.Addr()
		}
	}
	if first.IsValid() {
		return first
	}
	ifs := slices.Clone(n.Interfaces)
	slices.SortStableFunc(ifs, func(a, b Interface) int { return cmp.Compare(a.Index, b.Index) })
	for i := range ifs {
		localnet := scopeHost
		if n.confOr(ifs[i].Name, "route_localnet") {
			localnet = scopeLink
		}
		for _, p := range primaryAddrs(&ifs[i]) {
			if p.Addr().Is4() == v4 && min(addrScope(p.Addr()), localnet) <= scope {
				return p.Addr()
			}
		}
	}
	return netip.Addr{}
}

// primaryAddrs are dev's addresses without the secondaries: an address is secondary when an
// earlier one on the device has the same prefix length and subnet.
func primaryAddrs(dev *Interface) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range dev.Addresses {
		secondary := false
		for _, q := range out {
			if q.Bits() == p.Bits() && q.Masked() == p.Masked() {
				secondary = true
				break
			}
		}
		if !secondary {
			out = append(out, p)
		}
	}
	return out
}

// addrScope is the scope `ip address add` gives an address by default: host for
// 127.0.0.0/8 and ::1, link for IPv6 link-local, global otherwise.
func addrScope(a netip.Addr) int {
	switch {
	case a.IsLoopback():
		return scopeHost
	case a.Is6() && a.IsLinkLocalUnicast():
		return scopeLink
	}
	return scopeUniverse
}

// routeScope is the route's scope: as recorded, else the default `ip route add` gives.
func routeScope(r *Route) int {
	switch r.Scope {
	case "global", "universe":
		return scopeUniverse
	case "site":
		return scopeSite
	case "link":
		return scopeLink
	case "host":
		return scopeHost
	case "nowhere":
		return scopeNowhere
	case "":
		switch r.Type {
		case RouteLocal:
			return scopeHost
		case RouteBroadcast:
			return scopeLink
		}
		return scopeUniverse
	}
	var s int
	if _, err := fmt.Sscan(r.Scope, &s); err == nil {
		return s
	}
	return scopeUniverse
}

func routeUsesDevice(r *Route, dev string) bool {
	if r == nil {
		return false
	}
	if r.Device == dev {
		return true
	}
	for _, nh := range r.NextHops {
		if nh.Device == dev {
			return true
		}
	}
	return false
}

func routeDevices(r *Route) string {
	if r == nil {
		return "nowhere"
	}
	if len(r.NextHops) == 0 {
		return r.Device
	}
	var s string
	for i, nh := range r.NextHops {
		if i > 0 {
			s += ","
		}
		s += nh.Device
	}
	return s
}

func hasAddrOfFamily(dev *Interface, v4 bool) bool {
	for _, p := range dev.Addresses {
		if p.Addr().Is4() == v4 {
			return true
		}
	}
	return false
}

func isLoopbackDevice(dev *Interface, name string) bool {
	if dev != nil {
		return dev.Kind == "loopback" || dev.Name == "lo"
	}
	return name == "lo"
}

func prefixContains(p netip.Prefix, a netip.Addr) bool {
	if p.Bits() == 0 {
		return p.Addr().Is4() == a.Is4()
	}
	return p.Contains(a)
}

func unspecified(like netip.Addr) netip.Addr {
	if like.Is6() {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

func loopback(like netip.Addr) netip.Addr {
	if like.Is6() {
		return netip.IPv6Loopback()
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

func isLimitedBroadcast(a netip.Addr) bool { return a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) }

// isZeroNet is the kernel's test for a "this network" address. Since Linux 5.3 the rest of
// 0.0.0.0/8 is ordinary unicast, so only 0.0.0.0 itself is refused.
func isZeroNet(a netip.Addr) bool { return a.Is4() && a.IsUnspecified() }

func isLocalMulticast(a netip.Addr) bool {
	return a.Is4() && a.As4()[0] == 224 && a.As4()[1] == 0 && a.As4()[2] == 0
}

func broadcastOrMulticast(dst netip.Addr) string {
	if dst.IsMulticast() {
		return "multicast"
	}
	return RouteBroadcast
}

func cmpAddr(a, b netip.Addr) netip.Addr {
	if a.IsValid() {
		return a
	}
	return b
}

// TableName prints a table as `ip` does: local, main, default, or its number.
func TableName(t int) string {
	switch t {
	case TableLocal:
		return "local"
	case TableMain:
		return "main"
	case TableDefault:
		return "default"
	}
	return fmt.Sprint(t)
}
