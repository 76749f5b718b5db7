package netstack

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
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

// flow is the kernel's flowi: the key one FIB lookup matches rules and routes against.
type flow struct {
	dst, src        netip.Addr
	iif, oif        string
	mark            uint32
	tos             uint8
	proto           int
	sport, dport    uint16
	ignoreLinkState bool
}

// fibResult is one successful FIB lookup.
type fibResult struct {
	route    *Route
	rule     *Rule
	table    int
	typ      string
	nexthops []NextHop
}

func (r *fibResult) bits() int { return r.route.Dst.Bits() }

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

// validateSource is the kernel's fib_validate_source: may a packet from src arrive on dev?
// It applies rp_filter (strict: the route back to src must leave by dev; loose: some route
// back must exist) and refuses local sources unless accept_local. oif is the output
// interface of the forward route, empty for local delivery.
func (n *Netstack) validateSource(q RouteQuery, src, dst netip.Addr, oif string, dev *Interface) (Reject, string) {
	rpf := n.RPFilter(dev.Name)
	if rpf == 0 && (dev.Name != oif || !n.confOr(dev.Name, "send_redirects")) {
		if n.confOr(dev.Name, "accept_local") {
			return RejectNone, ""
		}
		// With custom rules or local routes, a look at the addresses alone could be wrong
		// either way, so the kernel does the full reverse lookup (without rp_filter).
		if !n.hasCustomLocalRoutes() && !n.hasCustomRules(src.Is4()) {
			if n.isInterfaceAddr(src) {
				return RejectMartianSource, fmt.Sprintf("source %s is a local address", src)
			}
			return RejectNone, ""
		}
	}
	fl := flow{dst: src, src: dst, iif: cmp.Or(oif, "lo"), tos: q.TOS, proto: q.IPProto, sport: q.DPort, dport: q.SPort}
	if n.confOr(dev.Name, "src_valid_mark") {
		fl.mark = q.Mark
	}
	fr, rej, _ := n.fibLookup(fl)
	if rej != RejectNone {
		if rpf != 0 {
			return RejectRPFilter, fmt.Sprintf("rp_filter=%d on %s: no route back to %s", rpf, dev.Name, src)
		}
		return RejectNone, ""
	}
	if fr.typ != RouteUnicast {
		if fr.typ != RouteLocal {
			return RejectMartianSource, fmt.Sprintf("the route back to %s is %s", src, fr.typ)
		}
		if !n.confOr(dev.Name, "accept_local") {
			return RejectMartianSource, fmt.Sprintf("source %s is a local address", src)
		}
	}
	if routeUsesDevice(fr.route, dev.Name) || (fr.typ == RouteLocal && isLoopbackDevice(dev, dev.Name)) {
		return RejectNone, ""
	}
	if !hasAddrOfFamily(dev, src.Is4()) {
		if rpf != 0 {
			return RejectRPFilter, fmt.Sprintf("rp_filter=%d on %s, which has no address", rpf, dev.Name)
		}
		return RejectNone, ""
	}
	if rpf == 1 {
		return RejectRPFilter, fmt.Sprintf("rp_filter=1 (strict) on %s: the route back to %s leaves by %s", dev.Name, src, routeDevices(fr.route))
	}
	return RejectNone, ""
}

// fibLookup is the kernel's fib_lookup: the policy rules in order, each looking up its
// table, until one decides. Without custom rules the kernel looks up its merged
// local+main table and then the default table, which differs from walking the three
// default rules only in corner cases; both are modelled.
func (n *Netstack) fibLookup(fl flow) (fibResult, Reject, []string) {
	v4 := fl.dst.Is4()
	x := n.idx()
	rules, custom := x.rules4, x.custom[0]
	if !v4 {
		rules, custom = x.rules6, x.custom[1]
	}
	var trace []string
	if !custom {
		fr, rej := n.tableLookup(x, []int{TableLocal, TableMain}, fl)
		if rej != RejectNone && x.tables[tableKey{TableDefault, v4}] != nil {
			fr, rej = n.tableLookup(x, []int{TableDefault}, fl)
		}
		if rej == errAgain {
			rej = RejectNoRoute
		}
		if rej == RejectNone || fr.route != nil {
			for i := range rules {
				if rules[i].Action == RuleToTable && rules[i].Table == fr.table {
					fr.rule = &rules[i]
				}
			}
		}
		trace = append(trace, fmt.Sprintf("tables local+main, default: %s", describe(fr, rej)))
		return fr, rej, trace
	}
	for i := 0; i < len(rules); i++ {
		r := &rules[i]
	jumped:
		if !r.matches(&fl) {
			continue
		}
		switch r.Action {
		case RuleGoto:
			t := gotoTarget(rules, i, r.Goto)
			if t < 0 {
				trace = append(trace, fmt.Sprintf("rule %d: goto %d has no target, skipped", r.Priority, r.Goto))
				continue
			}
			trace = append(trace, fmt.Sprintf("rule %d: goto %d", r.Priority, r.Goto))
			i, r = t, &rules[t]
			goto jumped
		case RuleNop:
			continue
		case RuleBlackhole, RuleUnreachable, RuleProhibit:
			trace = append(trace, fmt.Sprintf("rule %d: %s", r.Priority, r.Action))
			return fibResult{rule: r, typ: r.Action}, ruleReject(r.Action), trace
		case RuleToTable, "":
		default:
			trace = append(trace, fmt.Sprintf("rule %d: action %q not understood, skipped", r.Priority, r.Action))
			continue
		}
		fr, rej := n.tableLookup(x, []int{r.Table}, fl)
		fr.rule = r
		if rej == RejectNone && r.SuppressPrefixLength != nil && fr.bits() <= *r.SuppressPrefixLength {
			trace = append(trace, fmt.Sprintf("rule %d: table %s: %s suppressed (prefix length <= %d)", r.Priority, TableName(r.Table), fr.route.Dst, *r.SuppressPrefixLength))
			continue
		}
		trace = append(trace, fmt.Sprintf("rule %d: table %s: %s", r.Priority, TableName(r.Table), describe(fr, rej)))
		if rej == errAgain {
			continue
		}
		return fr, rej, trace
	}
	return fibResult{}, RejectNoRoute, trace
}

func describe(fr fibResult, rej Reject) string {
	switch {
	case rej == errAgain:
		if fr.route != nil {
			return fmt.Sprintf("throw %s", fr.route.Dst)
		}
		return "no route"
	case fr.route != nil:
		return fmt.Sprintf("%s %s", fr.typ, fr.route.Dst)
	case rej != RejectNone:
		return string(rej)
	}
	return "no route"
}

// gotoTarget is the index of the first rule with priority prio; the kernel refuses a goto
// backwards, so it is searched after from.
func gotoTarget(rules []Rule, from, prio int) int {
	for j := from + 1; j < len(rules); j++ {
		if rules[j].Priority == prio {
			return j
		}
	}
	return -1
}

// tableLookup is fib_table_lookup over the union of tables (one, or local+main merged):
// the longest prefix first, within it the lowest metric, skipping routes whose next hops
// are all dead; an error route (blackhole, unreachable, prohibit, throw) answers at once.
func (n *Netstack) tableLookup(x *routeIndex, tables []int, fl flow) (fibResult, Reject) {
	res, rej := fibResult{}, errAgain
	x.candidates(n.Routes, tables, fl.dst, func(r *Route) bool {
		typ := cmp.Or(r.Type, RouteUnicast)
		switch typ {
		case RouteBlackhole:
			res, rej = fibResult{route: r, table: r.Table, typ: typ}, RejectBlackhole
			return false
		case RouteUnreachable:
			res, rej = fibResult{route: r, table: r.Table, typ: typ}, RejectUnreachable
			return false
		case RouteProhibit:
			res, rej = fibResult{route: r, table: r.Table, typ: typ}, RejectProhibit
			return false
		case RouteThrow:
			res, rej = fibResult{route: r, table: r.Table, typ: typ}, errAgain
			return false
		}
		if nhs := n.liveNextHops(r, fl); len(nhs) > 0 {
			res, rej = fibResult{route: r, table: r.Table, typ: typ, nexthops: nhs}, RejectNone
			return false
		}
		return true
	})
	return res, rej
}

// liveNextHops are the next hops of r the kernel may use for fl: not dead (device down),
// not without carrier when ignore_routes_with_linkdown is set, and on the forced output
// interface if any. Routes of host scope (local addresses) never die with their device.
func (n *Netstack) liveNextHops(r *Route, fl flow) []NextHop {
	nhs := r.NextHops
	if len(nhs) == 0 {
		nhs = []NextHop{{Gateway: r.Gateway, Device: r.Device, OnLink: r.OnLink, Flags: r.Flags}}
	}
	host := routeScope(r) >= scopeHost
	var live []NextHop
	for _, nh := range nhs {
		if !host {
			dead, linkdown := slices.Contains(nh.Flags, "dead"), slices.Contains(nh.Flags, "linkdown")
			if dev := n.InterfaceByName(nh.Device); dev != nil {
				dead = dead || !dev.Up
				linkdown = linkdown || !dev.HasCarrier()
			}
			if dead {
				continue
			}
			if linkdown && !fl.ignoreLinkState && n.confOr(nh.Device, "ignore_routes_with_linkdown") {
				continue
			}
		}
		if fl.oif != "" && nh.Device != fl.oif {
			continue
		}
		if nh.Gateway.IsValid() && n.isInterfaceAddr(nh.Gateway) {
			// A gateway that is this host's own address resolves with host scope, and the
			// kernel then sends straight to the destination on the device.
			nh.Gateway = netip.Addr{}
		}
		live = append(live, nh)
	}
	return live
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

func ruleReject(action string) Reject {
	switch action {
	case RuleBlackhole:
		return RejectBlackhole
	case RuleProhibit:
		return RejectProhibit
	}
	return RejectUnreachable
}

// matches is fib_rule_match and fib4_rule_match: every selector set must match; "not"
// inverts the whole.
func (r *Rule) matches(fl *flow) bool {
	m := r.selectorsMatch(fl)
	if r.Invert {
		return !m
	}
	return m
}

func (r *Rule) selectorsMatch(fl *flow) bool {
	if r.IIF != "" && r.IIF != fl.iif {
		return false
	}
	if r.OIF != "" && r.OIF != fl.oif {
		return false
	}
	mask := r.Mask
	if mask == 0 && r.Mark != 0 {
		mask = 0xffffffff
	}
	if (r.Mark^fl.mark)&mask != 0 {
		return false
	}
	if !selectorContains(r.Src, fl.src, fl.dst) || !selectorContains(r.Dst, fl.dst, fl.dst) {
		return false
	}
	// The kernel compares the rule's tos with the packet's DSCP bits of the legacy TOS mask.
	if r.TOS != 0 && r.TOS != fl.tos&0x1c {
		return false
	}
	if r.IPProto != 0 && r.IPProto != fl.proto {
		return false
	}
	if (r.SPortStart != 0 || r.SPortEnd != 0) && !inRange(int(fl.sport), r.SPortStart, r.SPortEnd) {
		return false
	}
	if (r.DPortStart != 0 || r.DPortEnd != 0) && !inRange(int(fl.dport), r.DPortStart, r.DPortEnd) {
		return false
	}
	return true
}

func inRange(p, lo, hi int) bool {
	if hi == 0 {
		hi = lo
	}
	return p >= lo && p <= hi
}

// selectorContains matches an address against a rule's from/to: an unset or /0 selector
// matches anything, and a missing address is the zero address (an output lookup before
// source selection has source 0.0.0.0).
func selectorContains(p netip.Prefix, a, family netip.Addr) bool {
	if !p.IsValid() || p.Bits() == 0 {
		return true
	}
	if !a.IsValid() {
		a = unspecified(family)
	}
	return p.Contains(a)
}

func ruleIs4(r Rule) bool {
	switch {
	case r.Family == "inet6":
		return false
	case r.Family == "inet":
		return true
	case r.Src.IsValid():
		return r.Src.Addr().Is4()
	case r.Dst.IsValid():
		return r.Dst.Addr().Is4()
	}
	return true
}

// DefaultRules are the rules a kernel starts with: local, main and (IPv4) default.
func DefaultRules(v4 bool) []Rule {
	fam := "inet"
	if !v4 {
		fam = "inet6"
	}
	rules := []Rule{
		{Family: fam, Priority: 0, Action: RuleToTable, Table: TableLocal},
		{Family: fam, Priority: 32766, Action: RuleToTable, Table: TableMain},
	}
	if v4 {
		rules = append(rules, Rule{Family: fam, Priority: 32767, Action: RuleToTable, Table: TableDefault})
	}
	return rules
}

// hasCustomRules reports whether the family's rules differ from the kernel's defaults.
// (The kernel remembers that rules were ever added; a snapshot only shows the present.)
func (n *Netstack) hasCustomRules(v4 bool) bool {
	if v4 {
		return n.idx().custom[0]
	}
	return n.idx().custom[1]
}

func customRules(rules []Rule, v4 bool) bool {
	def := DefaultRules(v4)
	if len(rules) != len(def) {
		return true
	}
	for i, r := range rules {
		d := def[i]
		if r.Priority != d.Priority || r.Action != d.Action || r.Table != d.Table || r.Invert ||
			(r.Src.IsValid() && r.Src.Bits() > 0) || (r.Dst.IsValid() && r.Dst.Bits() > 0) ||
			r.IIF != "" || r.OIF != "" || r.Mark != 0 || r.Mask != 0 || r.TOS != 0 || r.IPProto != 0 ||
			r.SPortStart != 0 || r.DPortStart != 0 || r.SuppressPrefixLength != nil {
			return true
		}
	}
	return false
}

// hasCustomLocalRoutes reports whether someone added a local route by hand.
func (n *Netstack) hasCustomLocalRoutes() bool { return n.idx().customLocal }

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
