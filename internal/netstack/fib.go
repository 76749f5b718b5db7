package netstack

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

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
