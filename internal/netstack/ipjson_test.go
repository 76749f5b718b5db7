package netstack

// A small reader of `ip -j` output for the differential test. The real collector reads
// netlink; this only needs to turn what a test namespace holds into a Netstack.

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

type ipLink struct {
	Index     int      `json:"ifindex"`
	Name      string   `json:"ifname"`
	Flags     []string `json:"flags"`
	MTU       int      `json:"mtu"`
	OperState string   `json:"operstate"`
	Address   string   `json:"address"`
	Master    string   `json:"master"`
	LinkIndex int      `json:"link_index"`
	NetNSID   *int     `json:"link_netnsid"`
	LinkType  string   `json:"link_type"`
	LinkInfo  *struct {
		Kind string         `json:"info_kind"`
		Data map[string]any `json:"info_data"`
	} `json:"linkinfo"`
	AddrInfo []struct {
		Family    string `json:"family"`
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
	} `json:"addr_info"`
}

type ipRoute struct {
	Type     string   `json:"type"`
	Dst      string   `json:"dst"`
	Gateway  string   `json:"gateway"`
	Dev      string   `json:"dev"`
	Table    string   `json:"table"`
	Protocol string   `json:"protocol"`
	Scope    string   `json:"scope"`
	PrefSrc  string   `json:"prefsrc"`
	Metric   int      `json:"metric"`
	Flags    []string `json:"flags"`
	Metrics  []struct {
		MTU int `json:"mtu"`
	} `json:"metrics"`
	NextHops []struct {
		Gateway string   `json:"gateway"`
		Dev     string   `json:"dev"`
		Weight  int      `json:"weight"`
		Flags   []string `json:"flags"`
	} `json:"nexthops"`
	// Fields of `ip route get` only.
	From string `json:"from"`
	IIF  string `json:"iif"`
}

type ipRule struct {
	Priority     int             `json:"priority"`
	Not          json.RawMessage `json:"not"`
	Src          string          `json:"src"`
	SrcLen       *int            `json:"srclen"`
	Dst          string          `json:"dst"`
	DstLen       *int            `json:"dstlen"`
	IIF          string          `json:"iif"`
	OIF          string          `json:"oif"`
	FWMark       string          `json:"fwmark"`
	FWMask       string          `json:"fwmask"`
	TOS          string          `json:"tos"`
	IPProto      string          `json:"ipproto"`
	SPort        int             `json:"sport"`
	DPort        int             `json:"dport"`
	SPortStart   int             `json:"sport_start"`
	SPortEnd     int             `json:"sport_end"`
	DPortStart   int             `json:"dport_start"`
	DPortEnd     int             `json:"dport_end"`
	Table        string          `json:"table"`
	Goto         *int            `json:"goto"`
	Nop          json.RawMessage `json:"nop"`
	Action       string          `json:"action"`
	SuppressPLen *int            `json:"suppress_prefixlen"`
}

func parseTable(s string) (int, error) {
	switch s {
	case "", "main":
		return TableMain, nil
	case "local":
		return TableLocal, nil
	case "default":
		return TableDefault, nil
	}
	return strconv.Atoi(s)
}

func parseIPPrefix(s string) (netip.Prefix, error) {
	if s == "default" {
		return netip.MustParsePrefix("0.0.0.0/0"), nil
	}
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func parseOptAddr(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	return netip.ParseAddr(s)
}

// netstackFromIP builds a Netstack from `ip -d -j addr`, `ip -4 -j route show table all`,
// `ip -4 -j rule` and sysctl lines "key=value".
func netstackFromIP(addrJSON, routeJSON, ruleJSON []byte, sysctls map[string]string) (*Netstack, error) {
	ns := &Netstack{Sysctls: sysctls}
	var links []ipLink
	if err := json.Unmarshal(addrJSON, &links); err != nil {
		return nil, fmt.Errorf("parse links: %w", err)
	}
	for _, l := range links {
		ifc := Interface{Index: l.Index, Name: l.Name, MTU: l.MTU, OperState: strings.ToLower(l.OperState),
			HardwareAddr: l.Address, Master: l.Master, Kind: "device"}
		for _, f := range l.Flags {
			if f == "UP" {
				ifc.Up = true
			}
		}
		if l.LinkType == "loopback" {
			ifc.Kind = "loopback"
		}
		if l.LinkInfo != nil {
			ifc.Kind = l.LinkInfo.Kind
		}
		if ifc.Kind == "veth" {
			ifc.Veth = &VethAttrs{PeerIndex: l.LinkIndex, PeerNetNSID: -1}
			if l.NetNSID != nil {
				ifc.Veth.PeerNetNSID = *l.NetNSID
			}
		}
		for _, a := range l.AddrInfo {
			if a.Family != "inet" {
				continue
			}
			addr, err := netip.ParseAddr(a.Local)
			if err != nil {
				return nil, fmt.Errorf("parse address of %s: %w", l.Name, err)
			}
			ifc.Addresses = append(ifc.Addresses, netip.PrefixFrom(addr, a.PrefixLen))
		}
		ns.Interfaces = append(ns.Interfaces, ifc)
	}

	var routes []ipRoute
	if err := json.Unmarshal(routeJSON, &routes); err != nil {
		return nil, fmt.Errorf("parse routes: %w", err)
	}
	for _, r := range routes {
		rt, err := routeFromIP(r)
		if err != nil {
			return nil, err
		}
		ns.Routes = append(ns.Routes, rt)
	}

	var rules []ipRule
	if err := json.Unmarshal(ruleJSON, &rules); err != nil {
		return nil, fmt.Errorf("parse rules: %w", err)
	}
	for _, r := range rules {
		rl, err := ruleFromIP(r)
		if err != nil {
			return nil, err
		}
		ns.Rules = append(ns.Rules, rl)
	}
	return ns, nil
}

func routeFromIP(r ipRoute) (Route, error) {
	rt := Route{Type: r.Type, Device: r.Dev, Protocol: r.Protocol, Scope: r.Scope, Metric: r.Metric, Flags: r.Flags}
	if rt.Type == "" {
		rt.Type = RouteUnicast
	}
	var err error
	if rt.Table, err = parseTable(r.Table); err != nil {
		return rt, fmt.Errorf("route %s: table: %w", r.Dst, err)
	}
	if rt.Dst, err = parseIPPrefix(r.Dst); err != nil {
		return rt, fmt.Errorf("route dst: %w", err)
	}
	if rt.Gateway, err = parseOptAddr(r.Gateway); err != nil {
		return rt, fmt.Errorf("route %s gateway: %w", r.Dst, err)
	}
	if rt.Src, err = parseOptAddr(r.PrefSrc); err != nil {
		return rt, fmt.Errorf("route %s prefsrc: %w", r.Dst, err)
	}
	for _, f := range r.Flags {
		if f == "onlink" {
			rt.OnLink = true
		}
	}
	for _, m := range r.Metrics {
		if m.MTU != 0 {
			rt.MTU = m.MTU
		}
	}
	for _, nh := range r.NextHops {
		gw, err := parseOptAddr(nh.Gateway)
		if err != nil {
			return rt, fmt.Errorf("route %s nexthop: %w", r.Dst, err)
		}
		rt.NextHops = append(rt.NextHops, NextHop{Gateway: gw, Device: nh.Dev, Weight: nh.Weight, Flags: nh.Flags})
	}
	return rt, nil
}

func ruleFromIP(r ipRule) (Rule, error) {
	rl := Rule{Family: "inet", Priority: r.Priority, Invert: r.Not != nil, IIF: r.IIF, OIF: r.OIF,
		SPortStart: r.SPortStart, SPortEnd: r.SPortEnd, DPortStart: r.DPortStart, DPortEnd: r.DPortEnd,
		SuppressPrefixLength: r.SuppressPLen}
	if r.SPort != 0 {
		rl.SPortStart, rl.SPortEnd = r.SPort, r.SPort
	}
	if r.DPort != 0 {
		rl.DPortStart, rl.DPortEnd = r.DPort, r.DPort
	}
	pfx := func(s string, l *int) (netip.Prefix, error) {
		if s == "" || s == "all" {
			return netip.Prefix{}, nil
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		bits := a.BitLen()
		if l != nil {
			bits = *l
		}
		return netip.PrefixFrom(a, bits), nil
	}
	var err error
	if rl.Src, err = pfx(r.Src, r.SrcLen); err != nil {
		return rl, fmt.Errorf("rule %d from: %w", r.Priority, err)
	}
	if rl.Dst, err = pfx(r.Dst, r.DstLen); err != nil {
		return rl, fmt.Errorf("rule %d to: %w", r.Priority, err)
	}
	hex := func(s string) (uint32, error) {
		if s == "" {
			return 0, nil
		}
		v, err := strconv.ParseUint(s, 0, 32)
		return uint32(v), err
	}
	if rl.Mark, err = hex(r.FWMark); err != nil {
		return rl, fmt.Errorf("rule %d fwmark: %w", r.Priority, err)
	}
	if rl.Mask, err = hex(r.FWMask); err != nil {
		return rl, fmt.Errorf("rule %d fwmask: %w", r.Priority, err)
	}
	tos, err := hex(r.TOS)
	if err != nil {
		return rl, fmt.Errorf("rule %d tos: %w", r.Priority, err)
	}
	rl.TOS = uint8(tos)
	switch r.IPProto {
	case "":
	case "tcp":
		rl.IPProto = 6
	case "udp":
		rl.IPProto = 17
	case "icmp":
		rl.IPProto = 1
	default:
		if rl.IPProto, err = strconv.Atoi(strings.TrimPrefix(r.IPProto, "ipproto-")); err != nil {
			return rl, fmt.Errorf("rule %d ipproto %q: %w", r.Priority, r.IPProto, err)
		}
	}
	switch {
	case r.Goto != nil:
		rl.Action, rl.Goto = RuleGoto, *r.Goto
	case r.Nop != nil:
		rl.Action = RuleNop
	case r.Action != "":
		rl.Action = r.Action
	default:
		rl.Action = RuleToTable
		if rl.Table, err = parseTable(r.Table); err != nil {
			return rl, fmt.Errorf("rule %d table: %w", r.Priority, err)
		}
	}
	return rl, nil
}
