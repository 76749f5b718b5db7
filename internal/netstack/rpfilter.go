package netstack

import (
	"cmp"
	"fmt"
	"net/netip"
)

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
