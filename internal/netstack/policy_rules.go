package netstack

import "net/netip"

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
