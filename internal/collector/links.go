package collector

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/netdiag/netdiag/internal/netstack"
)

// names maps interface indexes to names within one namespace.
type names map[int]string

func (n names) name(index int) string {
	if index == 0 {
		return ""
	}
	if s, ok := n[index]; ok {
		return s
	}
	// A link index that is not in the namespace (a vxlan's underlay moved away) keeps its
	// number so nothing silently looks unset.
	return "if" + strconv.Itoa(index)
}

// readLinks lists the links of the calling thread's namespace with their addresses.
func readLinks() ([]netstack.Interface, names, error) {
	links, err := retryDump(netlink.LinkList)
	if err != nil {
		return nil, nil, fmt.Errorf("list links: %w", err)
	}
	idx := names{}
	for _, l := range links {
		idx[l.Attrs().Index] = l.Attrs().Name
	}
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return netlink.AddrList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return nil, idx, fmt.Errorf("list addresses: %w", err)
	}
	byLink := map[int][]netip.Prefix{}
	for _, a := range addrs {
		if p, ok := prefixOf(a.IPNet); ok {
			byLink[a.LinkIndex] = append(byLink[a.LinkIndex], p)
		}
	}
	bridges := map[int]bool{}
	for _, l := range links {
		if _, ok := l.(*netlink.Bridge); ok {
			bridges[l.Attrs().Index] = true
		}
	}
	out := make([]netstack.Interface, 0, len(links))
	for _, l := range links {
		itf := convertLink(l, idx)
		itf.Addresses = byLink[itf.Index]
		if bridges[l.Attrs().MasterIndex] {
			// A bridge port sends a frame back out of the port it came in by only in hairpin
			// mode: a pod reaching itself through its Service needs it.
			if pi, err := netlink.LinkGetProtinfo(l); err == nil {
				itf.Hairpin = &pi.Hairpin
			}
		}
		slices.SortFunc(itf.Addresses, comparePrefix)
		out = append(out, itf)
	}
	slices.SortFunc(out, func(a, b netstack.Interface) int { return a.Index - b.Index })
	return out, idx, nil
}

// convertLink turns a netlink link into the snapshot's interface, with the attributes of its
// kind the engine follows (veth peer, vxlan tunnel, bridge).
func convertLink(l netlink.Link, idx names) netstack.Interface {
	a := l.Attrs()
	itf := netstack.Interface{
		Index:     a.Index,
		Name:      a.Name,
		Kind:      l.Type(),
		MTU:       a.MTU,
		Up:        a.Flags&net.FlagUp != 0,
		OperState: a.OperState.String(),
		Master:    idx.name(a.MasterIndex),
	}
	if len(a.HardwareAddr) > 0 {
		itf.HardwareAddr = a.HardwareAddr.String()
	}
	if itf.Kind == "device" && a.Flags&net.FlagLoopback != 0 {
		itf.Kind = "loopback"
	}
	switch l := l.(type) {
	case *netlink.Veth:
		// IFLA_LINK is the peer's index in the peer's namespace, IFLA_LINK_NETNSID that
		// namespace's id here (-1: the same namespace).
		itf.Veth = &netstack.VethAttrs{PeerIndex: a.ParentIndex, PeerNetNSID: a.NetNsID}
	case *netlink.Vxlan:
		itf.VXLAN = &netstack.VXLANAttrs{
			VNI:      l.VxlanId,
			Port:     l.Port,
			Local:    addrOf(l.SrcAddr),
			Group:    addrOf(l.Group),
			Device:   idx.name(l.VtepDevIndex),
			Learning: l.Learning,
		}
	case *netlink.Iptun:
		itf.IPIP = &netstack.TunnelAttrs{Local: addrOf(l.Local), Remote: addrOf(l.Remote), Device: idx.name(int(l.Link))}
	case *netlink.Bridge:
		itf.Bridge = &netstack.BridgeAttrs{VLANFiltering: l.VlanFiltering != nil && *l.VlanFiltering}
	}
	return itf
}

func addrOf(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a := addrOf(n.IP)
	if !a.IsValid() {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	if bits == 128 && a.Is4() {
		ones -= 96
	}
	if bits == 0 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones), true
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

var routeTypes = map[int]string{
	unix.RTN_UNICAST:     netstack.RouteUnicast,
	unix.RTN_LOCAL:       netstack.RouteLocal,
	unix.RTN_BROADCAST:   netstack.RouteBroadcast,
	unix.RTN_ANYCAST:     "anycast",
	unix.RTN_MULTICAST:   "multicast",
	unix.RTN_BLACKHOLE:   netstack.RouteBlackhole,
	unix.RTN_UNREACHABLE: netstack.RouteUnreachable,
	unix.RTN_PROHIBIT:    netstack.RouteProhibit,
	unix.RTN_THROW:       netstack.RouteThrow,
	unix.RTN_NAT:         "nat",
}

// scopeName names a route scope as `ip route` does.
func scopeName(s netlink.Scope) string {
	switch s {
	case netlink.SCOPE_UNIVERSE:
		return "global"
	case netlink.SCOPE_SITE:
		return "site"
	case netlink.SCOPE_LINK:
		return "link"
	case netlink.SCOPE_HOST:
		return "host"
	case netlink.SCOPE_NOWHERE:
		return "nowhere"
	}
	return strconv.Itoa(int(s))
}

// readRoutes lists the routes of every table and type, IPv4 and IPv6.
func readRoutes(idx names) ([]netstack.Route, error) {
	list, err := retryDump(func() ([]netlink.Route, error) {
		return netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	out := make([]netstack.Route, 0, len(list))
	for _, r := range list {
		out = append(out, convertRoute(r, idx))
	}
	return out, nil
}

func convertRoute(r netlink.Route, idx names) netstack.Route {
	rt := netstack.Route{
		Table:    r.Table,
		Type:     routeTypes[r.Type],
		Gateway:  addrOf(r.Gw),
		Device:   idx.name(r.LinkIndex),
		Src:      addrOf(r.Src),
		Scope:    scopeName(r.Scope),
		Metric:   r.Priority,
		Protocol: r.Protocol.String(),
		OnLink:   r.Flags&unix.RTNH_F_ONLINK != 0,
		MTU:      r.MTU,
		Flags:    nextHopFlags(r.Flags),
	}
	if rt.Type == "" {
		rt.Type = strconv.Itoa(r.Type)
	}
	if p, ok := prefixOf(r.Dst); ok {
		rt.Dst = p
	} else if r.Family == unix.AF_INET6 {
		rt.Dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	} else {
		rt.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	for _, nh := range r.MultiPath {
		rt.NextHops = append(rt.NextHops, netstack.NextHop{
			Gateway: addrOf(nh.Gw),
			Device:  idx.name(nh.LinkIndex),
			// The kernel counts rtnh_hops from zero; `ip route` shows weight hops+1.
			Weight: nh.Hops + 1,
			OnLink: nh.Flags&unix.RTNH_F_ONLINK != 0,
			Flags:  nextHopFlags(nh.Flags),
		})
	}
	return rt
}

// bitName is one flag of a bit set and the word iproute2 prints for it.
type bitName struct {
	bit  int
	name string
}

// setBits names the flags of v that are set, in the order of names.
func setBits(v int, names []bitName) []string {
	var out []string
	for _, n := range names {
		if v&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// nextHopFlagNames are the RTNH_F_* flags as `ip route` prints them.
var nextHopFlagNames = []bitName{
	{unix.RTNH_F_DEAD, "dead"},
	{unix.RTNH_F_PERVASIVE, "pervasive"},
	{unix.RTNH_F_ONLINK, "onlink"},
	{unix.RTNH_F_OFFLOAD, "offload"},
	{unix.RTNH_F_LINKDOWN, "linkdown"},
	{unix.RTNH_F_UNRESOLVED, "unresolved"},
	{unix.RTNH_F_TRAP, "trap"},
}

// nextHopFlags names RTNH_F_* flags as `ip route` prints them.
func nextHopFlags(f int) []string { return setBits(f, nextHopFlagNames) }

var ruleActions = map[uint8]string{
	unix.FR_ACT_TO_TBL:      netstack.RuleToTable,
	unix.FR_ACT_GOTO:        netstack.RuleGoto,
	unix.FR_ACT_NOP:         netstack.RuleNop,
	unix.FR_ACT_BLACKHOLE:   netstack.RuleBlackhole,
	unix.FR_ACT_UNREACHABLE: netstack.RuleUnreachable,
	unix.FR_ACT_PROHIBIT:    netstack.RuleProhibit,
}

// readRules lists the IPv4 and IPv6 policy rules, each family in the kernel's order. The dump
// is parsed here because netlink's RuleList leaves the rule's action out.
func readRules() ([]netstack.Rule, error) {
	var out []netstack.Rule
	for _, family := range []int{unix.AF_INET, unix.AF_INET6} {
		msgs, err := retryDump(func() ([][]byte, error) {
			req := nl.NewNetlinkRequest(unix.RTM_GETRULE, unix.NLM_F_DUMP)
			req.AddData(&nl.RtMsg{RtMsg: unix.RtMsg{Family: uint8(family)}})
			return req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWRULE)
		})
		if err != nil {
			return out, fmt.Errorf("list rules: %w", err)
		}
		for _, m := range msgs {
			rule, err := ParseRule(m)
			if err != nil {
				return out, err
			}
			out = append(out, rule)
		}
	}
	return out, nil
}

// Rule attributes (linux/fib_rules.h).
const (
	fraDst                = 1
	fraSrc                = 2
	fraIIFName            = 3
	fraGoto               = 4
	fraPriority           = 6
	fraFWMark             = 10
	fraSuppressPrefixLen  = 14
	fraTable              = 15
	fraFWMask             = 16
	fraOIFName            = 17
	fraIPProto            = 22
	fraSPortRange         = 23
	fraDPortRange         = 24
	fibRuleInvert         = 0x2
	sizeofFibRuleHdr      = 12
	suppressPrefixLenNone = 0xffffffff
)

// ParseRule parses one RTM_NEWRULE message (a fib_rule_hdr and its attributes) into a rule.
func ParseRule(msg []byte) (netstack.Rule, error) {
	if len(msg) < sizeofFibRuleHdr {
		return netstack.Rule{}, fmt.Errorf("rule message of %d bytes", len(msg))
	}
	// struct fib_rule_hdr { family, dst_len, src_len, tos, table, res1, res2, action; u32 flags }
	family, dstLen, srcLen, tos, table, action := msg[0], int(msg[1]), int(msg[2]), msg[3], int(msg[4]), msg[7]
	flags := binary.NativeEndian.Uint32(msg[8:12])
	attrs, err := parseAttrs(msg[sizeofFibRuleHdr:])
	if err != nil {
		return netstack.Rule{}, fmt.Errorf("parse rule attributes: %w", err)
	}
	rule := netstack.Rule{
		Family: "inet",
		Invert: flags&fibRuleInvert != 0,
		TOS:    tos,
		Action: ruleActions[action],
	}
	if family == unix.AF_INET6 {
		rule.Family = "inet6"
	}
	if rule.Action == "" {
		rule.Action = strconv.Itoa(int(action))
	}
	var gotoPrio int
	for _, a := range attrs {
		v := a.Value
		switch a.Attr.Type {
		case fraDst, fraSrc:
			ip, ok := netip.AddrFromSlice(v)
			if !ok {
				return rule, fmt.Errorf("rule address of %d bytes", len(v))
			}
			bits := srcLen
			if a.Attr.Type == fraDst {
				bits = dstLen
			}
			p := netip.PrefixFrom(ip.Unmap(), bits)
			if !p.IsValid() {
				return rule, fmt.Errorf("rule prefix %s/%d", ip, bits)
			}
			if a.Attr.Type == fraDst {
				rule.Dst = p
			} else {
				rule.Src = p
			}
		case fraIIFName:
			rule.IIF = cstring(v)
		case fraOIFName:
			rule.OIF = cstring(v)
		case fraGoto:
			gotoPrio = int(u32(v))
		case fraPriority:
			rule.Priority = int(u32(v))
		case fraFWMark:
			rule.Mark = u32(v)
		case fraFWMask:
			rule.Mask = u32(v)
		case fraTable:
			table = int(u32(v))
		case fraSuppressPrefixLen:
			if n := u32(v); n != suppressPrefixLenNone {
				l := int(n)
				rule.SuppressPrefixLength = &l
			}
		case fraIPProto:
			if len(v) > 0 {
				rule.IPProto = int(v[0])
			}
		case fraSPortRange, fraDPortRange:
			if len(v) < 4 {
				return rule, fmt.Errorf("rule port range of %d bytes", len(v))
			}
			start, end := int(u16(v[0:2])), int(u16(v[2:4]))
			if a.Attr.Type == fraSPortRange {
				rule.SPortStart, rule.SPortEnd = start, end
			} else {
				rule.DPortStart, rule.DPortEnd = start, end
			}
		}
	}
	switch rule.Action {
	case netstack.RuleToTable:
		rule.Table = table
	case netstack.RuleGoto:
		rule.Goto = gotoPrio
	}
	return rule, nil
}

// neighbourStates are the NUD states as `ip neigh` prints them, the one it names first.
var neighbourStates = []bitName{
	{netlink.NUD_PERMANENT, "PERMANENT"},
	{netlink.NUD_NOARP, "NOARP"},
	{netlink.NUD_REACHABLE, "REACHABLE"},
	{netlink.NUD_STALE, "STALE"},
	{netlink.NUD_DELAY, "DELAY"},
	{netlink.NUD_PROBE, "PROBE"},
	{netlink.NUD_FAILED, "FAILED"},
	{netlink.NUD_INCOMPLETE, "INCOMPLETE"},
}

// neighbourState names a NUD state as `ip neigh` does.
func neighbourState(s int) string {
	if set := setBits(s, neighbourStates); len(set) > 0 {
		return set[0]
	}
	return "NONE"
}

// readNeighbours lists the ARP and NDP entries.
func readNeighbours(idx names) ([]netstack.Neighbour, error) {
	var out []netstack.Neighbour
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		list, err := retryDump(func() ([]netlink.Neigh, error) { return netlink.NeighList(0, family) })
		if err != nil {
			return out, fmt.Errorf("list neighbours: %w", err)
		}
		for _, n := range list {
			ip := addrOf(n.IP)
			if !ip.IsValid() {
				continue
			}
			nb := netstack.Neighbour{Device: idx.name(n.LinkIndex), IP: ip, State: neighbourState(n.State)}
			if len(n.HardwareAddr) > 0 {
				nb.HardwareAddr = n.HardwareAddr.String()
			}
			out = append(out, nb)
		}
	}
	return out, nil
}

// readFDB lists the bridge and vxlan forwarding entries (AF_BRIDGE neighbours), as
// `bridge fdb show` does.
func readFDB(idx names) ([]netstack.FDBEntry, error) {
	list, err := retryDump(func() ([]netlink.Neigh, error) { return netlink.NeighList(0, unix.AF_BRIDGE) })
	if err != nil {
		return nil, fmt.Errorf("list fdb: %w", err)
	}
	out := make([]netstack.FDBEntry, 0, len(list))
	for _, n := range list {
		out = append(out, netstack.FDBEntry{
			Device:       idx.name(n.LinkIndex),
			HardwareAddr: n.HardwareAddr.String(),
			Dst:          addrOf(n.IP),
			Master:       idx.name(n.MasterIndex),
			VLAN:         n.Vlan,
			State:        fdbState(n),
		})
	}
	return out, nil
}

// fdbState names an fdb entry's state as `bridge fdb` does: permanent, static, or empty for
// a learned entry.
func fdbState(n netlink.Neigh) string {
	switch {
	case n.State&netlink.NUD_PERMANENT != 0:
		return "permanent"
	case n.State&netlink.NUD_NOARP != 0:
		return "static"
	case n.State&netlink.NUD_STALE != 0:
		return "stale"
	}
	return ""
}
