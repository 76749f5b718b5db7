package iptables

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// Table names in the kernel's order of priority within a hook.
const (
	TableRaw      = "raw"
	TableMangle   = "mangle"
	TableNAT      = "nat"
	TableFilter   = "filter"
	TableSecurity = "security"
)

// Ruleset is a parsed iptables-save text: its tables by name.
type Ruleset struct {
	Tables map[string]*Table
	// Rules counts the rules of every table.
	Rules int
	// usesConntrack is set when a rule needs connection tracking (a state, conntrack or
	// connmark match, a NAT, CONNMARK or CT target): the kernel tracks connections in a
	// namespace only when something needs it, and without it the nat table is never
	// consulted.
	usesConntrack bool
	// notUnderstood are the rules whose match or target the parser did not know, found once
	// when parsed: a cached ruleset serves many diagnoses.
	notUnderstood []*Rule
}

// UsesConntrack reports whether a rule of the ruleset makes the kernel track connections.
func (rs *Ruleset) UsesConntrack() bool { return rs != nil && rs.usesConntrack }

// Table is one `*name` ... `COMMIT` section.
type Table struct {
	Name string
	// Chains holds the chains by name; Order keeps them as saved.
	Chains map[string]*Chain
	Order  []*Chain
}

// Chain is a built-in or user-defined chain.
type Chain struct {
	Table string
	Name  string
	// Policy is ACCEPT or DROP for a built-in chain and empty for a user chain (saved as "-").
	Policy string
	// PolicyCounters counts the packets the policy decided, when the save had counters.
	PolicyCounters Counters
	Rules          []*Rule

	// Where the chain's rules are among the parser's rules.
	firstRule, nRules int
	scattered         bool
	// dsts indexes a long chain's rules by destination; nil for a short one.
	dsts *dstIndex
}

// Builtin reports whether the chain is one of the kernel's hook chains.
func (c *Chain) Builtin() bool { return c.Policy != "" }

// Counters are a rule's or policy's packet and byte counts as `iptables-save -c` prints them.
type Counters struct {
	Packets uint64
	Bytes   uint64
}

// Rule is one `-A` line.
type Rule struct {
	Table, Chain string
	// Index is the rule's position in its chain, from 1 as `iptables -L --line-numbers` counts.
	Index int
	// Line is the line number in the save text.
	Line int
	// Text is the rule as saved, without its counters.
	Text string
	// Counters hold the packet and byte counts when the save had them (HasCounters).
	Counters    Counters
	HasCounters bool

	// Header holds the matches that every rule has (-s, -d, -i, -o, -p, -f).
	Header Header
	// Matches are the `-m` modules in order, each with its options.
	Matches []Match
	// Target is what a match does; nil for a rule without -j/-g (it only counts).
	Target Target
	// Goto is set when the target chain was entered with -g instead of -j.
	Goto bool
}

// String is the rule's text with its place, for traces and messages.
func (r *Rule) String() string {
	if r.HasCounters {
		return "[" + strconv.FormatUint(r.Counters.Packets, 10) + ":" + strconv.FormatUint(r.Counters.Bytes, 10) + "] " + r.Text
	}
	return r.Text
}

// Header is the fixed part of an iptables rule, the kernel's struct ipt_ip.
type Header struct {
	Src, Dst       netip.Prefix
	NotSrc, NotDst bool
	// In and Out are interface names; a trailing "+" matches every name with that prefix.
	In, Out       string
	NotIn, NotOut bool
	// Proto is the IP protocol number, 0 for any; ProtoName keeps the saved spelling.
	Proto     uint8
	ProtoName string
	NotProto  bool
	// Fragment is 1 for -f (second and later fragments), -1 for ! -f, 0 when unset.
	Fragment int
}

// IfaceMatch reports whether an interface name matches a rule's pattern with its "+" wildcard.
func IfaceMatch(pattern, name string) bool {
	if p, ok := strings.CutSuffix(pattern, "+"); ok {
		return strings.HasPrefix(name, p)
	}
	return pattern == name
}

// Chain returns the named chain of a table, or nil.
func (rs *Ruleset) Chain(table, chain string) *Chain {
	t := rs.Tables[table]
	if t == nil {
		return nil
	}
	return t.Chains[chain]
}

// AllRules calls f for every rule in table order, then chain order as saved.
func (rs *Ruleset) AllRules(f func(*Rule)) {
	for _, tn := range tableOrder(rs) {
		for _, c := range rs.Tables[tn].Order {
			for _, r := range c.Rules {
				f(r)
			}
		}
	}
}

func tableOrder(rs *Ruleset) []string {
	var out []string
	for _, n := range []string{TableRaw, TableMangle, TableNAT, TableFilter, TableSecurity} {
		if rs.Tables[n] != nil {
			out = append(out, n)
		}
	}
	var extra []string
	for n := range rs.Tables {
		switch n {
		case TableRaw, TableMangle, TableNAT, TableFilter, TableSecurity:
		default:
			extra = append(extra, n)
		}
	}
	slices.Sort(extra)
	return append(out, extra...)
}

// Ruleset names iptables as the rule's ruleset.
func (r *Rule) Ruleset() string { return nf.IPTables }

// Place is the rule's table and chain.
func (r *Rule) Place() (table, chain string) { return r.Table, r.Chain }

// NotUnderstood lists the rules with a match or target the evaluator does not understand
// (an UnknownMatch or UnknownTarget, which keeps why), in table order, then chain order as
// saved: what the parser found once, whether or not a packet reaches them.
func (rs *Ruleset) NotUnderstood() []*Rule { return rs.notUnderstood }

func (rs *Ruleset) findNotUnderstood() []*Rule {
	var out []*Rule
	rs.AllRules(func(r *Rule) {
		if _, ok := r.Target.(*UnknownTarget); ok {
			out = append(out, r)
			return
		}
		for _, m := range r.Matches {
			if _, ok := m.(*UnknownMatch); ok {
				out = append(out, r)
				return
			}
		}
	})
	return out
}
