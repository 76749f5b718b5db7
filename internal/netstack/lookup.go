package netstack

import "net/netip"

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
	// IPProto, SPort and DPort feed rules that match them.
	IPProto int
	SPort   uint16
	DPort   uint16
}

// RouteResult is the kernel's routing decision for a query.
type RouteResult struct {
	// Type is the route's type: unicast, local, broadcast, blackhole, unreachable,
	// prohibit; or, when no rule's table had a route, unreachable with Route nil.
	Type string
	// Route is the matching route, nil when none matched.
	Route *Route
	// Rule is the policy rule whose table held the route (or that decided by itself).
	Rule *Rule
	// Table is the table the route came from.
	Table int
	// Device is the output interface, Gateway the next hop (zero when directly connected),
	// Src the preferred source address.
	Device  string
	Gateway netip.Addr
	Src     netip.Addr
}
