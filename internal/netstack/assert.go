package netstack

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netdiag/netdiag/internal/model"
)

// NetstackAssertion is the catalogue of checks a plugin runs on one namespace on the
// packet's way. Each check returns the suspicions it finds, none when the state lets the
// packet through, every one with a stable reason code (docs/suspicions.md, "Routing and
// interfaces") and the place it was found.
type NetstackAssertion struct {
	NS *Netstack
	// Node is the node the namespace is on; Pod is namespace/name for a pod's namespace.
	Node string
	Pod  string
}

// NewNetstackAssertion returns the checks for ns on node; a pod's namespace is named
// after its pod.
func NewNetstackAssertion(node string, ns *Netstack) *NetstackAssertion {
	a := &NetstackAssertion{NS: ns, Node: node}
	if ns.Pod != nil {
		a.Pod = ns.Pod.Namespace + "/" + ns.Pod.Name
	}
	return a
}

func (a *NetstackAssertion) suspect(level model.Level, reason model.Reason, ifc, rule, format string, args ...any) model.Suspicion {
	return model.Suspicion{Level: level, Reason: reason, Node: a.Node, Pod: a.Pod, Interface: ifc, Rule: rule,
		Message: fmt.Sprintf(format, args...)}
}

func (a *NetstackAssertion) where() string {
	if a.Pod != "" {
		return "pod " + a.Pod
	}
	return "node " + a.Node
}

// InterfaceUp checks that the interface exists, is administratively up and has carrier,
// and that its master (the bridge it is a port of) is up too.
func (a *NetstackAssertion) InterfaceUp(name string) []model.Suspicion {
	ifc := a.NS.InterfaceByName(name)
	if ifc == nil {
		if a.NS.PartError("links") != nil {
			return nil // PartErrors reports that the links could not be read
		}
		return []model.Suspicion{a.suspect(model.Critical, model.ReasonInterfaceMissing, name, "",
			"Interface %s does not exist in %s", name, a.where())}
	}
	var out []model.Suspicion
	switch {
	case !ifc.Up:
		out = append(out, a.suspect(model.Critical, model.ReasonInterfaceDown, name, "",
			"Interface %s in %s is administratively down; bring it up (ip link set %s up)", name, a.where(), name))
	case !ifc.HasCarrier():
		hint := "its cable or lower device is down"
		if ifc.Kind == "veth" {
			hint = "the other end of the veth is down or gone"
		} else if ifc.Kind == "bridge" {
			hint = "none of its ports is up"
		}
		out = append(out, a.suspect(model.Critical, model.ReasonInterfaceDown, name, "",
			"Interface %s in %s is up but has no carrier (state %s): %s", name, a.where(), ifc.OperState, hint))
	}
	if ifc.Master != "" && ifc.Master != name {
		out = append(out, a.InterfaceUp(ifc.Master)...)
	}
	return out
}

// MTU checks that a packet of size bytes (the sender's MTU) fits out of interface name.
func (a *NetstackAssertion) MTU(name string, size int) []model.Suspicion {
	ifc := a.NS.InterfaceByName(name)
	if ifc == nil || ifc.MTU == 0 || size <= ifc.MTU {
		return nil
	}
	return []model.Suspicion{a.suspect(model.Warning, model.ReasonMTUMismatch, name, "",
		"Packets of %d bytes do not fit out of %s in %s (MTU %d): large packets with DF are dropped, so connections open but bulk transfers stall; lower the sender's MTU to %d",
		size, name, a.where(), ifc.MTU, ifc.MTU)}
}

// TunnelMTU checks that a full-size packet on a tunnel interface still fits the underlay
// once encapsulated: the tunnel's MTU plus its overhead must not exceed the MTU of the
// device the encapsulated packets leave by (the tunnel's own underlay device, else the
// route to the tunnel's remote or local address).
func (a *NetstackAssertion) TunnelMTU(name string) []model.Suspicion {
	ifc := a.NS.InterfaceByName(name)
	if ifc == nil || ifc.TunnelOverhead() == 0 {
		return nil
	}
	under := ""
	var toward netip.Addr
	switch {
	case ifc.VXLAN != nil:
		under, toward = ifc.VXLAN.Device, ifc.VXLAN.Local
	case ifc.IPIP != nil:
		under, toward = ifc.IPIP.Device, ifc.IPIP.Remote
	}
	if under == "" && toward.IsValid() {
		if dev := a.NS.InterfaceWithAddr(toward); dev != nil {
			under = dev.Name
		} else if res := a.NS.LookupRoute(RouteQuery{Dst: toward}); res.Routed() {
			under = res.Device
		}
	}
	u := a.NS.InterfaceByName(under)
	if u == nil || u.MTU == 0 {
		return nil
	}
	need := ifc.MTU + ifc.TunnelOverhead()
	if need <= u.MTU {
		return nil
	}
	return []model.Suspicion{a.suspect(model.Warning, model.ReasonMTUMismatch, name, "",
		"Tunnel %s in %s has MTU %d; with %d bytes of encapsulation its packets need %d but underlay %s has MTU %d: set the tunnel (and pod) MTU to %d or raise the underlay's",
		name, a.where(), ifc.MTU, ifc.TunnelOverhead(), need, under, u.MTU, u.MTU-ifc.TunnelOverhead())}
}

// MTUHop is one interface a packet crosses, with the encapsulation it carries there.
type MTUHop struct {
	Node, Pod, Interface string
	MTU                  int
	// Overhead is the bytes of encapsulation around the original packet on this hop
	// (e.g. 50 on the underlay of a vxlan tunnel).
	Overhead int
}

// CheckPathMTU checks that the largest packet the first hop sends (its MTU) fits every later
// hop with that hop's encapsulation; hops with an unknown MTU (0) are skipped.
func CheckPathMTU(hops []MTUHop) []model.Suspicion {
	if len(hops) == 0 || hops[0].MTU == 0 {
		return nil
	}
	size := hops[0].MTU
	var out []model.Suspicion
	for _, h := range hops[1:] {
		if h.MTU == 0 || size+h.Overhead <= h.MTU {
			continue
		}
		out = append(out, model.Suspicion{Level: model.Warning, Reason: model.ReasonMTUMismatch, Node: h.Node, Pod: h.Pod, Interface: h.Interface,
			Message: fmt.Sprintf("The sender's %d-byte packets need %d bytes on %s (MTU %d, %d bytes of encapsulation): large packets are dropped; the sender's MTU should be at most %d",
				size, size+h.Overhead, h.Interface, h.MTU, h.Overhead, h.MTU-h.Overhead)})
	}
	return out
}

// Route routes q and turns a refusal into a suspicion: no route, a blackhole, unreachable or
// prohibit route or rule, forwarding disabled, reverse path filtering, a martian packet, or
// a route out of a device without carrier (which the kernel still uses).
func (a *NetstackAssertion) Route(q RouteQuery) (RouteResult, []model.Suspicion) {
	res := a.NS.LookupRoute(q)
	if a.NS.PartError("routes") != nil || a.NS.PartError("rules") != nil {
		// The tables are incomplete; PartErrors says so and the result is a guess.
		return res, nil
	}
	rule := DescribeDecision(res)
	pkt := q.String()
	var s model.Suspicion
	switch res.Reject {
	case RejectNone:
		if dev := a.NS.InterfaceByName(res.Device); dev != nil && res.Device != "lo" && !dev.HasCarrier() {
			s = a.suspect(model.Critical, model.ReasonInterfaceDown, res.Device, rule,
				"The route for %s in %s leaves by %s, which has no carrier: packets are lost (set ignore_routes_with_linkdown, or fix the link)", pkt, a.where(), res.Device)
			return res, []model.Suspicion{s}
		}
		return res, nil
	case RejectNoRoute:
		s = a.suspect(model.Critical, model.ReasonRouteMissing, q.IIF, rule,
			"No route for %s in %s: no table the rules consult has a route to %s", pkt, a.where(), q.Dst)
		return res, append([]model.Suspicion{s}, a.downWithAddress()...)
	case RejectBlackhole:
		s = a.suspect(model.Critical, model.ReasonRouteBlackhole, q.IIF, rule,
			"A blackhole %s drops %s in %s silently", ruleOrRoute(res), pkt, a.where())
	case RejectUnreachable:
		s = a.suspect(model.Critical, model.ReasonRouteUnreachable, q.IIF, rule,
			"An unreachable %s rejects %s in %s (the sender gets ICMP unreachable)", ruleOrRoute(res), pkt, a.where())
	case RejectProhibit:
		s = a.suspect(model.Critical, model.ReasonRouteProhibited, q.IIF, rule,
			"A prohibit %s rejects %s in %s (the sender gets ICMP administratively prohibited)", ruleOrRoute(res), pkt, a.where())
	case RejectForwardingDisabled:
		s = a.forwardingOff(q.IIF, pkt, rule)
	case RejectRPFilter:
		s = a.suspect(model.Critical, model.ReasonRPFilterDrop, q.IIF, rule,
			"Reverse path filtering in %s drops %s: %s; use rp_filter=2 (loose) or 0 on %s and all, or fix the route back", a.where(), pkt, lastTrace(res), q.IIF)
	case RejectMartianSource, RejectMartianDestination:
		s = a.suspect(model.Critical, model.ReasonMartianPacket, q.IIF, rule,
			"%s drops %s as martian: %s", a.where(), pkt, lastTrace(res))
	case RejectNoDevice:
		s = a.suspect(model.Critical, model.ReasonInterfaceMissing, cmp.Or(q.IIF, q.OIF), rule,
			"Interface %s does not exist in %s", cmp.Or(q.IIF, q.OIF), a.where())
	case RejectDeviceDown:
		s = a.suspect(model.Critical, model.ReasonInterfaceDown, q.OIF, rule, "Interface %s in %s is down", q.OIF, a.where())
	case RejectSourceNotLocal:
		s = a.suspect(model.Critical, model.ReasonRouteMissing, "", rule,
			"%s cannot send from %s: the address is not on any of its interfaces", a.where(), q.Src)
	default:
		s = a.suspect(model.Critical, model.ReasonRouteMissing, q.IIF, rule, "%s does not route %s: %s", a.where(), pkt, res.Reject)
	}
	return res, []model.Suspicion{s}
}

// downWithAddress names the interfaces that hold an address but are administratively down:
// taking a link down makes the kernel delete every route through it, so a route found
// missing next to one of them was most likely lost with it, and bringing the link up (then
// restoring its routes) is the fix.
func (a *NetstackAssertion) downWithAddress() []model.Suspicion {
	var out []model.Suspicion
	for _, ifc := range a.NS.Interfaces {
		if ifc.Up || ifc.Kind == "loopback" || ifc.Name == "lo" || len(ifc.Addresses) == 0 {
			continue
		}
		out = append(out, a.suspect(model.Critical, model.ReasonInterfaceDown, ifc.Name, "",
			"Interface %s in %s is administratively down, and the kernel removed the routes through it: bring it up (ip link set %s up) and restore its routes",
			ifc.Name, a.where(), ifc.Name))
	}
	return out
}

func (a *NetstackAssertion) forwardingOff(iif, pkt, rule string) model.Suspicion {
	return a.suspect(model.Critical, model.ReasonIPForwardDisabled, iif, rule,
		"IPv4 forwarding is disabled on %s in %s, so %s is not forwarded; set net.ipv4.ip_forward=1 (or net.ipv4.conf.%s.forwarding=1)",
		iif, a.where(), pkt, iif)
}

// Forwarding checks that packets arriving on iif are forwarded.
func (a *NetstackAssertion) Forwarding(iif string) []model.Suspicion {
	if a.NS.Forwarding(iif) {
		return nil
	}
	if a.NS.PartError("sysctls") != nil {
		return nil
	}
	return []model.Suspicion{a.forwardingOff(iif, "traffic", "")}
}

// ReversePath checks that the packet q (arriving on q.IIF from q.Src, typically the reply)
// passes reverse path filtering: with rp_filter=1 (strict) the route back to the source
// must leave by the interface it came in by, with 2 (loose) some route back must exist.
func (a *NetstackAssertion) ReversePath(q RouteQuery) []model.Suspicion {
	if q.IIF == "" || !q.Src.IsValid() {
		return nil
	}
	res := a.NS.LookupRoute(q)
	if res.Reject != RejectRPFilter {
		return nil
	}
	return []model.Suspicion{a.suspect(model.Critical, model.ReasonRPFilterDrop, q.IIF, DescribeDecision(res),
		"Reverse path filtering in %s drops %s: %s; use rp_filter=2 (loose) or 0 on %s and all, or fix the route back",
		a.where(), q.String(), lastTrace(res), q.IIF)}
}

// Neighbour checks the neighbour entry for ip on dev. With static (a tunnel peer whose
// entries the network plugin writes, as flannel's vxlan does), a missing entry is Critical
// because nothing else will resolve it; otherwise only a FAILED entry is reported.
func (a *NetstackAssertion) Neighbour(dev string, ip netip.Addr, static bool) []model.Suspicion {
	if a.NS.PartError("neighbours") != nil {
		return nil
	}
	nb := a.NS.Neighbour(dev, ip)
	switch {
	case nb == nil && static:
		return []model.Suspicion{a.suspect(model.Critical, model.ReasonNeighbourMissing, dev, "",
			"No neighbour entry for %s on %s in %s: the network plugin has not written the peer's address, so packets to it are dropped; check the plugin's agent on this node", ip, dev, a.where())}
	case nb == nil:
		return nil
	case !nb.Usable():
		level := model.Warning
		if static {
			level = model.Critical
		}
		return []model.Suspicion{a.suspect(level, model.ReasonNeighbourMissing, dev, "",
			"The neighbour entry for %s on %s in %s is %s: the address does not answer ARP", ip, dev, a.where(), nb.State)}
	}
	return nil
}

// FDB checks that the forwarding database of dev has mac, and, for a vxlan device, that it
// points to the remote VTEP (when remote is set).
func (a *NetstackAssertion) FDB(dev, mac string, remote netip.Addr) []model.Suspicion {
	if a.NS.PartError("fdb") != nil {
		return nil
	}
	entries := a.NS.FDBEntries(mac, dev)
	if len(entries) == 0 {
		return []model.Suspicion{a.suspect(model.Critical, model.ReasonFDBMissing, dev, "",
			"No forwarding entry for %s on %s in %s: frames to it are not sent to the right tunnel endpoint; check the plugin's agent on this node", mac, dev, a.where())}
	}
	if !remote.IsValid() {
		return nil
	}
	var dsts []string
	for _, e := range entries {
		if e.Dst == remote {
			return nil
		}
		dsts = append(dsts, e.Dst.String())
	}
	return []model.Suspicion{a.suspect(model.Critical, model.ReasonFDBWrongRemote, dev, "",
		"The forwarding entry for %s on %s in %s points to %s, not to %s: packets go to the wrong node (a stale entry after the peer's address changed?)",
		mac, dev, a.where(), strings.Join(dsts, ", "), remote)}
}

// Listening checks that something listens on addr for proto, when the snapshot recorded
// the sockets (a nil list means they were not collected, and nothing is said).
func (a *NetstackAssertion) Listening(proto model.Protocol, addr netip.AddrPort) []model.Suspicion {
	if a.NS.Listening == nil || a.NS.PartError("listening") != nil || proto == model.ICMP {
		return nil
	}
	if proto == model.SCTP {
		// The collector reads the TCP and UDP socket tables only: /proc/net/sctp exists only
		// where the kernel has SCTP, so no SCTP socket is ever in the list to be found.
		return nil
	}
	for _, s := range a.NS.Listening {
		if !strings.EqualFold(s.Protocol, string(proto)) || s.Address.Port() != addr.Port() {
			continue
		}
		la := s.Address.Addr().Unmap()
		// A wildcard socket takes every address; an IPv6 wildcard takes IPv4 too
		// unless bindv6only, which sockets rarely set.
		if la == addr.Addr().Unmap() || la.IsUnspecified() {
			return nil
		}
	}
	what := "the connection is refused (TCP RST)"
	if proto == model.UDP {
		what = "the packet is answered with ICMP port unreachable"
	}
	return []model.Suspicion{a.suspect(model.Critical, model.ReasonNotListening, "", "",
		"Nothing in %s listens on %s %s: %s; check the container's port and bind address", a.where(), proto, addr, what)}
}

// PartErrors reports each part of the state the collector could not read: the checks that
// need it say nothing rather than trust an empty part.
func (a *NetstackAssertion) PartErrors() []model.Suspicion {
	var out []model.Suspicion
	for _, e := range a.NS.Errors {
		out = append(out, a.suspect(model.Warning, model.ReasonSnapshotPartError, "", "",
			"The %s of %s could not be read (%s): the checks that need them are skipped", e.Part, a.where(), e.Error))
	}
	return out
}

// DescribeDecision prints the route or rule that decided, as `ip route` and `ip rule` would.
func DescribeDecision(res RouteResult) string {
	switch {
	case res.Route != nil:
		return res.Route.String()
	case res.Rule != nil:
		return res.Rule.String()
	}
	return ""
}

func ruleOrRoute(res RouteResult) string {
	if res.Route != nil {
		return "route " + res.Route.String()
	}
	if res.Rule != nil {
		return "rule " + res.Rule.String()
	}
	return "route"
}

func lastTrace(res RouteResult) string {
	if len(res.Trace) == 0 {
		return string(res.Reject)
	}
	return res.Trace[len(res.Trace)-1]
}

// String prints the route as `ip route show table all` does.
func (r *Route) String() string {
	var b strings.Builder
	if t := cmp.Or(r.Type, RouteUnicast); t != RouteUnicast {
		b.WriteString(t + " ")
	}
	if r.Dst.Bits() == 0 {
		b.WriteString("default")
	} else {
		b.WriteString(r.Dst.String())
	}
	if r.Gateway.IsValid() {
		b.WriteString(" via " + r.Gateway.String())
	}
	if r.Device != "" {
		b.WriteString(" dev " + r.Device)
	}
	if r.Table != TableMain && r.Table != 0 {
		b.WriteString(" table " + TableName(r.Table))
	}
	if r.Src.IsValid() {
		b.WriteString(" src " + r.Src.String())
	}
	if r.Metric != 0 {
		fmt.Fprintf(&b, " metric %d", r.Metric)
	}
	if r.OnLink && !slices.Contains(r.Flags, "onlink") {
		b.WriteString(" onlink")
	}
	for _, f := range r.Flags {
		b.WriteString(" " + f)
	}
	for _, nh := range r.NextHops {
		b.WriteString(" nexthop")
		if nh.Gateway.IsValid() {
			b.WriteString(" via " + nh.Gateway.String())
		}
		if nh.Device != "" {
			b.WriteString(" dev " + nh.Device)
		}
		for _, f := range nh.Flags {
			b.WriteString(" " + f)
		}
	}
	return b.String()
}

// String prints the rule as `ip rule` does.
func (r *Rule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d:", r.Priority)
	if r.Invert {
		b.WriteString(" not")
	}
	if r.Src.IsValid() && r.Src.Bits() > 0 {
		b.WriteString(" from " + r.Src.String())
	} else {
		b.WriteString(" from all")
	}
	if r.Dst.IsValid() && r.Dst.Bits() > 0 {
		b.WriteString(" to " + r.Dst.String())
	}
	if r.TOS != 0 {
		fmt.Fprintf(&b, " tos 0x%x", r.TOS)
	}
	if r.Mark != 0 || r.Mask != 0 {
		fmt.Fprintf(&b, " fwmark 0x%x", r.Mark)
		if r.Mask != 0 && r.Mask != 0xffffffff {
			fmt.Fprintf(&b, "/0x%x", r.Mask)
		}
	}
	if r.IIF != "" {
		b.WriteString(" iif " + r.IIF)
	}
	if r.OIF != "" {
		b.WriteString(" oif " + r.OIF)
	}
	if r.IPProto != 0 {
		fmt.Fprintf(&b, " ipproto %d", r.IPProto)
	}
	if r.SPortStart != 0 {
		fmt.Fprintf(&b, " sport %s", portRange(r.SPortStart, r.SPortEnd))
	}
	if r.DPortStart != 0 {
		fmt.Fprintf(&b, " dport %s", portRange(r.DPortStart, r.DPortEnd))
	}
	switch r.Action {
	case RuleToTable, "":
		b.WriteString(" lookup " + TableName(r.Table))
	case RuleGoto:
		fmt.Fprintf(&b, " goto %d", r.Goto)
	default:
		b.WriteString(" " + r.Action)
	}
	if r.SuppressPrefixLength != nil {
		fmt.Fprintf(&b, " suppress_prefixlength %d", *r.SuppressPrefixLength)
	}
	return b.String()
}

func portRange(lo, hi int) string {
	if hi == 0 || hi == lo {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}
