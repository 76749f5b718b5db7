package netstack

import (
	"fmt"
	"net/netip"
	"syscall"
)

// RouteQuery is what the kernel knows when it routes a packet (the key of `ip route get`).
type RouteQuery struct {
	Dst netip.Addr
	// Src is the packet's source, or zero for a locally generated packet before source
	// selection.
	Src netip.Addr
	// IIF is the interface the packet came in by, empty for a locally generated packet.
	IIF string
	// OIF forces the output interface, as a socket bound to a device does.
	OIF  string
	Mark uint32
	// TOS is the IPv4 type-of-service byte; rules with a tos selector read it.
	TOS uint8
	// IPProto, SPort and DPort feed rules that match them.
	IPProto int
	SPort   uint16
	DPort   uint16
}

// String prints the query as `ip route get` arguments.
func (q RouteQuery) String() string {
	s := q.Dst.String()
	if q.Src.IsValid() {
		s += " from " + q.Src.String()
	}
	if q.IIF != "" {
		s += " iif " + q.IIF
	}
	if q.OIF != "" {
		s += " oif " + q.OIF
	}
	if q.Mark != 0 {
		s += fmt.Sprintf(" mark 0x%x", q.Mark)
	}
	if q.TOS != 0 {
		s += fmt.Sprintf(" tos 0x%x", q.TOS)
	}
	if q.IPProto != 0 {
		s += fmt.Sprintf(" ipproto %d", q.IPProto)
	}
	if q.SPort != 0 {
		s += fmt.Sprintf(" sport %d", q.SPort)
	}
	if q.DPort != 0 {
		s += fmt.Sprintf(" dport %d", q.DPort)
	}
	return s
}

// Reject says why the kernel refuses to route a packet. The empty value means it routes it.
type Reject string

const (
	// RejectNone: the packet is routed (or delivered locally).
	RejectNone Reject = ""
	// RejectNoRoute: no rule's table had a route (ENETUNREACH).
	RejectNoRoute Reject = "NoRoute"
	// RejectBlackhole: a blackhole route or rule swallows the packet silently (EINVAL).
	RejectBlackhole Reject = "Blackhole"
	// RejectUnreachable: an unreachable route (EHOSTUNREACH) or rule (ENETUNREACH).
	RejectUnreachable Reject = "Unreachable"
	// RejectProhibit: a prohibit route or rule (EACCES).
	RejectProhibit Reject = "Prohibit"
	// RejectForwardingDisabled: the packet is not for this host and forwarding is off on
	// the input interface (EHOSTUNREACH).
	RejectForwardingDisabled Reject = "ForwardingDisabled"
	// RejectMartianSource: the source is impossible on this interface (a local, loopback,
	// multicast or zero address), or the route the kernel found for it is not unicast (EINVAL).
	RejectMartianSource Reject = "MartianSource"
	// RejectMartianDestination: the destination cannot be routed (zero, loopback from
	// outside, a route type that cannot forward) (EINVAL).
	RejectMartianDestination Reject = "MartianDestination"
	// RejectRPFilter: reverse path filtering drops the packet (EINVAL; EXDEV before 6.13).
	RejectRPFilter Reject = "RPFilter"
	// RejectSourceNotLocal: a locally generated packet asks for a source address this host
	// does not own (ENETUNREACH).
	RejectSourceNotLocal Reject = "SourceNotLocal"
	// RejectNoDevice: the query names an interface that does not exist (ENODEV).
	RejectNoDevice Reject = "NoDevice"
	// RejectDeviceDown: the forced output interface is down (ENETUNREACH).
	RejectDeviceDown Reject = "DeviceDown"
)

// RouteResult is the kernel's routing decision for a query.
type RouteResult struct {
	// Type is the route's type: unicast, local, broadcast, multicast, blackhole,
	// unreachable, prohibit; or, when no rule's table had a route, unreachable with Route nil.
	Type string
	// Route is the matching route, nil when none matched.
	Route *Route
	// Rule is the policy rule whose table held the route (or that decided by itself).
	Rule *Rule
	// Table is the table the route came from.
	Table int
	// Device is the output interface ("lo" for local delivery), Gateway the next hop (zero
	// when directly connected), Src the preferred source address (for a forwarded packet:
	// the packet's own source).
	Device  string
	Gateway netip.Addr
	Src     netip.Addr
	// NextHops are the next hops the kernel may choose from: one for a simple route, every
	// live path of a multipath route (the kernel picks one per flow by hash). Device and
	// Gateway are the first of them.
	NextHops []NextHop
	// Reject says why the packet is not routed; empty when it is.
	Reject Reject
	// Errno is what `ip route get` would answer for the query; zero when it succeeds.
	Errno syscall.Errno
	// Trace records each rule and table consulted, in order, for the explanation.
	Trace []string
}

// Routed reports whether the kernel sends or delivers the packet.
func (r RouteResult) Routed() bool { return r.Reject == RejectNone }

// Kernel route scopes (rtnetlink.h).
const (
	scopeUniverse = 0
	scopeSite     = 200
	scopeLink     = 253
	scopeHost     = 254
	scopeNowhere  = 255
)

// LookupRoute routes q through the namespace's policy rules and tables as the Linux kernel
// does (net/ipv4/route.c, fib_rules.c, fib_trie.c): a query with IIF takes the input path
// (martian checks, forwarding, reverse path filter), one without the output path (source
// checks, source selection, a forced OIF).
func (n *Netstack) LookupRoute(q RouteQuery) RouteResult {
	if !q.Dst.IsValid() {
		q.Dst = unspecified(q.Src)
	}
	q.Dst, q.Src = q.Dst.Unmap(), q.Src.Unmap()
	if q.IIF != "" {
		return n.routeInput(q)
	}
	return n.routeOutput(q)
}

// errAgain is the kernel's -EAGAIN: this table (or rule) has no answer, try the next rule.
const errAgain Reject = "again"

func (n *Netstack) routeOutput(q RouteQuery) RouteResult {
	res := RouteResult{}
	v4 := q.Dst.Is4()
	fl := flow{dst: q.Dst, src: q.Src, iif: "lo", oif: q.OIF, mark: q.Mark, tos: q.TOS,
		proto: q.IPProto, sport: q.SPort, dport: q.DPort}
	var devOut *Interface

	if q.Src.IsValid() && !q.Src.IsUnspecified() {
		if v4 && (q.Src.IsMulticast() || isLimitedBroadcast(q.Src) || isZeroNet(q.Src)) {
			return reject(res, RejectMartianSource, syscall.EINVAL, "source %s cannot send", q.Src)
		}
		if q.OIF == "" && (q.Dst.IsMulticast() || isLimitedBroadcast(q.Dst)) {
			// The kernel sends multicast and limited broadcast out of the source's device.
			dev := n.deviceOwning(q.Src)
			if dev == nil {
				return reject(res, RejectSourceNotLocal, syscall.ENETUNREACH, "source %s is not local", q.Src)
			}
			res.Type = broadcastOrMulticast(q.Dst)
			res.Device, res.Src = dev.Name, q.Src
			return res
		}
		if n.deviceOwning(q.Src) == nil {
			return reject(res, RejectSourceNotLocal, syscall.ENETUNREACH, "source %s is not local", q.Src)
		}
	} else {
		fl.src = netip.Addr{}
	}

	if q.OIF != "" {
		devOut = n.InterfaceByName(q.OIF)
		if devOut == nil {
			return reject(res, RejectNoDevice, syscall.ENODEV, "no interface %s", q.OIF)
		}
		if !devOut.Up {
			return reject(res, RejectDeviceDown, syscall.ENETUNREACH, "interface %s is down", q.OIF)
		}
		if v4 && (isLocalMulticast(q.Dst) || isLimitedBroadcast(q.Dst)) {
			res.Type = broadcastOrMulticast(q.Dst)
			res.Device = devOut.Name
			res.Src = cmpAddr(fl.src, n.selectAddr(devOut, netip.Addr{}, scopeLink))
			return res
		}
		if !fl.src.IsValid() && q.Dst.IsMulticast() {
			fl.src = n.selectAddr(devOut, netip.Addr{}, scopeUniverse)
		}
	}

	if q.Dst.IsUnspecified() {
		// A packet to 0.0.0.0 goes to this host over loopback.
		res.Type, res.Device = RouteLocal, "lo"
		res.Src = fl.src
		if !res.Src.IsValid() {
			res.Src = loopback(q.Dst)
		}
		return res
	}

	fr, rej, trace := n.fibLookup(fl)
	res.Trace = trace
	if rej != RejectNone {
		if devOut != nil {
			// With a forced output interface the kernel assumes the destination is on
			// that link when the tables have no answer.
			res.Type, res.Device = RouteUnicast, devOut.Name
			res.Src = cmpAddr(fl.src, n.selectAddr(devOut, netip.Addr{}, scopeLink))
			res.NextHops = []NextHop{{Device: devOut.Name}}
			res.Trace = append(res.Trace, "no route: assume "+q.Dst.String()+" is on link "+devOut.Name)
			return n.mkrouteOutput(res, q)
		}
		res.fill(fr)
		return rejectFib(res, rej, fr)
	}
	res.fill(fr)

	if fr.typ == RouteLocal {
		res.Src = fl.src
		if !res.Src.IsValid() {
			res.Src = cmpAddr(fr.route.Src, q.Dst)
		}
		res.Device = "lo"
		return res
	}

	nh := fr.nexthops[0]
	res.Device, res.Gateway = nh.Device, nh.Gateway
	if fl.src.IsValid() {
		res.Src = fl.src
	} else {
		res.Src = n.prefSrc(fr.route, nh)
	}
	return n.mkrouteOutput(res, q)
}

// mkrouteOutput is __mkroute_output's last word on an output route.
func (n *Netstack) mkrouteOutput(res RouteResult, q RouteQuery) RouteResult {
	v4 := q.Dst.Is4()
	dev := n.InterfaceByName(res.Device)
	if v4 && res.Src.IsLoopback() && !isLoopbackDevice(dev, res.Device) && !n.confOr(res.Device, "route_localnet") {
		return reject(res, RejectMartianSource, syscall.EINVAL, "loopback source %s cannot leave by %s", res.Src, res.Device)
	}
	switch {
	case v4 && isLimitedBroadcast(q.Dst):
		res.Type, res.Gateway = RouteBroadcast, netip.Addr{}
		for i := range res.NextHops {
			res.NextHops[i].Gateway = netip.Addr{}
		}
	case q.Dst.IsMulticast():
		res.Type = "multicast"
		// Without a multicast route the kernel sends by the default route's device, but
		// not to its gateway.
		if res.Route == nil || res.Route.Dst.Bits() < 4 {
			res.Gateway = netip.Addr{}
			for i := range res.NextHops {
				res.NextHops[i].Gateway = netip.Addr{}
			}
		}
	case v4 && isZeroNet(q.Dst):
		return reject(res, RejectMartianDestination, syscall.EINVAL, "destination %s is 0.0.0.0", q.Dst)
	}
	return res
}

func (n *Netstack) routeInput(q RouteQuery) RouteResult {
	res := RouteResult{}
	v4 := q.Dst.Is4()
	dev := n.InterfaceByName(q.IIF)
	if dev == nil {
		return reject(res, RejectNoDevice, syscall.ENODEV, "no interface %s", q.IIF)
	}
	src := q.Src
	if !src.IsValid() {
		src = unspecified(q.Dst)
	}
	if q.Src.IsMulticast() || (v4 && isLimitedBroadcast(src)) {
		return reject(res, RejectMartianSource, syscall.EINVAL, "martian source %s", src)
	}
	if q.Dst.IsMulticast() {
		// Group membership is not in the snapshot; the kernel refuses a group it did not join.
		return reject(res, RejectMartianDestination, syscall.EINVAL, "multicast %s: group membership is not modelled", q.Dst)
	}
	localnet := n.confOr(dev.Name, "route_localnet")
	brd := false
	switch {
	case v4 && (isLimitedBroadcast(q.Dst) || (src.IsUnspecified() && q.Dst.IsUnspecified())):
		brd = true
	case v4 && isZeroNet(src):
		return reject(res, RejectMartianSource, syscall.EINVAL, "martian source %s", src)
	case v4 && isZeroNet(q.Dst):
		return reject(res, RejectMartianDestination, syscall.EINVAL, "martian destination %s", q.Dst)
	case q.Dst.IsLoopback() && !localnet:
		return reject(res, RejectMartianDestination, syscall.EINVAL, "martian destination %s from %s", q.Dst, dev.Name)
	case src.IsLoopback() && !localnet:
		return reject(res, RejectMartianSource, syscall.EINVAL, "martian source %s on %s", src, dev.Name)
	}

	var fr fibResult
	if !brd {
		fl := flow{dst: q.Dst, src: src, iif: dev.Name, mark: q.Mark, tos: q.TOS,
			proto: q.IPProto, sport: q.SPort, dport: q.DPort}
		var rej Reject
		var trace []string
		fr, rej, trace = n.fibLookup(fl)
		res.Trace = trace
		res.fill(fr)
		if rej != RejectNone {
			if !n.Forwarding(dev.Name) {
				res = rejectFib(res, rej, fr)
				res.Reject, res.Errno = RejectForwardingDisabled, syscall.EHOSTUNREACH
				res.Trace = append(res.Trace, "forwarding is disabled on "+dev.Name)
				return res
			}
			return rejectFib(res, rej, fr)
		}
		switch fr.typ {
		case RouteBroadcast:
			if n.confAnd(dev.Name, "bc_forwarding") {
				break
			}
			brd = true
		case RouteLocal:
			if r, why := n.validateSource(q, src, q.Dst, "", dev); r != RejectNone {
				return reject(res, r, errnoFor(r), "%s", why)
			}
			res.Device, res.Src = "lo", src
			return res
		}
	}
	if brd {
		if !src.IsUnspecified() {
			if r, why := n.validateSource(q, src, netip.Addr{}, "", dev); r != RejectNone {
				return reject(res, r, errnoFor(r), "%s", why)
			}
		}
		res.Type, res.Device, res.Src = RouteBroadcast, "lo", src
		return res
	}
	if !n.Forwarding(dev.Name) {
		return reject(res, RejectForwardingDisabled, syscall.EHOSTUNREACH, "forwarding is disabled on %s", dev.Name)
	}
	if fr.typ != RouteUnicast {
		return reject(res, RejectMartianDestination, syscall.EINVAL, "a %s route cannot forward", fr.typ)
	}
	nh := fr.nexthops[0]
	if r, why := n.validateSource(q, src, q.Dst, nh.Device, dev); r != RejectNone {
		return reject(res, r, errnoFor(r), "%s", why)
	}
	res.Device, res.Gateway, res.Src = nh.Device, nh.Gateway, src
	return res
}

func (r *RouteResult) fill(fr fibResult) {
	r.Route, r.Rule, r.Table, r.Type = fr.route, fr.rule, fr.table, fr.typ
	r.NextHops = fr.nexthops
	if len(fr.nexthops) > 0 {
		r.Device, r.Gateway = fr.nexthops[0].Device, fr.nexthops[0].Gateway
	}
}

func reject(r RouteResult, why Reject, errno syscall.Errno, format string, args ...any) RouteResult {
	r.Reject, r.Errno = why, errno
	r.Trace = append(r.Trace, fmt.Sprintf(format, args...))
	if r.Type == "" || r.Type == RouteUnicast || r.Type == RouteLocal || r.Type == RouteBroadcast {
		r.Type = RouteUnreachable
	}
	r.Device, r.Gateway, r.NextHops = "", netip.Addr{}, nil
	return r
}

// rejectFib turns a failed FIB lookup into the result `ip route get` reports.
func rejectFib(r RouteResult, rej Reject, fr fibResult) RouteResult {
	r.Reject = rej
	r.Device, r.Gateway, r.NextHops = "", netip.Addr{}, nil
	switch rej {
	case RejectNoRoute:
		r.Type, r.Errno = RouteUnreachable, syscall.ENETUNREACH
	case RejectBlackhole:
		r.Type, r.Errno = RouteBlackhole, syscall.EINVAL
	case RejectProhibit:
		r.Type, r.Errno = RouteProhibit, syscall.EACCES
	case RejectUnreachable:
		r.Type, r.Errno = RouteUnreachable, syscall.EHOSTUNREACH
		if fr.route == nil {
			// An unreachable rule answers "network", an unreachable route "host".
			r.Errno = syscall.ENETUNREACH
		}
	}
	return r
}

// errnoFor is what `ip route get` answers for a packet the input path drops as martian or
// by rp_filter: kernels since the drop-reason rework (6.13) answer EINVAL for both (older
// ones answered EXDEV for rp_filter).
func errnoFor(Reject) syscall.Errno { return syscall.EINVAL }
