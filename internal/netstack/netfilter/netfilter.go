package netfilter

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netdiag/netdiag/internal/netstack/iptables"
	"github.com/netdiag/netdiag/internal/netstack/nftables"
)

// Names of the rulesets, as outcomes and steps name them.
const (
	IPTables = "iptables"
	NFTables = "nftables"
)

// maxOutcomes bounds the branches of one hook across stages; each evaluator bounds its own.
const maxOutcomes = 4096

// Rules are one namespace's netfilter rules.
type Rules struct {
	// IPTables are the tables iptables-save printed; never nil (empty without rules).
	IPTables *iptables.Ruleset
	// NFTables is the nftables ruleset, nil when the namespace has none. Tables that
	// iptables-nft manages are left to IPTables when iptables-save printed them too, in the
	// terms the iptables evaluator understands (their nft form holds xt expressions).
	NFTables *nftables.Ruleset
	// Env is the namespace's addresses and ipsets.
	Env *iptables.Env

	// legacy is set when iptables uses its legacy backend: its tables are then not in the
	// nftables listing and were registered first.
	legacy bool
	stages map[iptables.Hook][]stage
}

// Options say what New cannot tell from the rulesets.
type Options struct {
	// Legacy is set when iptables-save came from iptables-legacy.
	Legacy bool
}

// New puts a namespace's rulesets together and orders each hook's stages. ipt may be nil
// (no iptables rules), nft may be nil (no nftables ruleset). env is changed: a namespace
// with nftables nat chains or conntrack expressions tracks connections whatever its
// iptables rules need.
func New(ipt *iptables.Ruleset, nft *nftables.Ruleset, env *iptables.Env, opts Options) *Rules {
	if ipt == nil {
		ipt = &iptables.Ruleset{Tables: map[string]*iptables.Table{}}
	}
	if env == nil {
		env = &iptables.Env{}
	}
	r := &Rules{IPTables: ipt, NFTables: nft, Env: env, legacy: opts.Legacy, stages: map[iptables.Hook][]stage{}}
	if nft != nil && nftTracks(nft) {
		env.ConntrackInUse = true
	}
	for _, h := range []iptables.Hook{iptables.PreRouting, iptables.Input, iptables.Forward, iptables.Output, iptables.PostRouting} {
		r.stages[h] = r.order(h)
	}
	return r
}

// nftTracks reports whether an nftables ruleset makes the kernel track connections: a nat
// chain, or an expression that reads or writes the connection.
func nftTracks(rs *nftables.Ruleset) bool {
	for _, t := range rs.Tables {
		for _, c := range t.Order {
			if c.Type == "nat" {
				return true
			}
			for _, r := range c.Rules {
				b, _ := json.Marshal(r.Exprs)
				if strings.Contains(string(b), `"ct"`) {
					return true
				}
			}
		}
	}
	return false
}

// skipNFT reports whether an nftables table is left to the iptables evaluator: a table
// iptables-nft manages that iptables-save printed too.
func (r *Rules) skipNFT(t *nftables.Table) bool {
	return nftables.IPTablesNFT(t) && r.IPTables.Tables[t.Name] != nil
}

// member is one table or base chain on a hook.
type member struct {
	prio int
	// order is when the member registered its hook, which breaks ties of priority: the
	// kernel (nf_hook_entries_grow) puts a new hook before the existing ones of the same
	// priority, so the later registered runs first. The nftables listing keeps the order of
	// creation (tables, then their chains).
	order int
	ipt   string
	nft   *nftables.Chain
	nat   bool
}

// stage is a run of consecutive members of one ruleset, or the nat stage.
type stage struct {
	ipt []string
	nft map[*nftables.Chain]bool
	// groups are the nat stage's runs, in the order the nat core calls them.
	groups []stage
	nat    bool
}

func (s stage) ruleset() string {
	if s.nft != nil {
		return NFTables
	}
	return IPTables
}

// order lays out a hook's stages by priority.
func (r *Rules) order(h iptables.Hook) []stage {
	var plain, nat []member
	for _, t := range iptables.HookTables(h) {
		m := member{prio: iptables.TablePriority(h, t), order: r.iptOrder(t), ipt: t, nat: t == iptables.TableNAT}
		if m.nat {
			nat = append(nat, m)
		} else if r.IPTables.Tables[t] != nil {
			plain = append(plain, m)
		}
	}
	if r.NFTables != nil {
		for _, c := range r.NFTables.BaseChains(h) {
			if r.skipNFT(c.Table) {
				continue
			}
			m := member{prio: c.Prio, order: r.nftOrder(c), nft: c, nat: c.Type == "nat"}
			if m.nat {
				nat = append(nat, m)
			} else {
				plain = append(plain, m)
			}
		}
	}
	byPrio := func(a, b member) int {
		if a.prio != b.prio {
			return a.prio - b.prio
		}
		return b.order - a.order
	}
	slices.SortStableFunc(plain, byPrio)
	slices.SortStableFunc(nat, byPrio)
	var out []stage
	natAt := -1
	if h != iptables.Forward {
		natPrio := iptables.TablePriority(h, iptables.TableNAT)
		natAt = len(plain)
		for i, m := range plain {
			// A chain of the nat stage's own priority runs before it, as the nftables
			// evaluator orders them.
			if m.prio > natPrio {
				natAt = i
				break
			}
		}
	}
	for i := 0; i <= len(plain); i++ {
		if i == natAt {
			out = append(out, stage{nat: true, groups: runs(nat)})
		}
		if i < len(plain) {
			out = appendRun(out, plain[i])
		}
	}
	return out
}

// runs groups consecutive members of one ruleset.
func runs(ms []member) []stage {
	var out []stage
	for _, m := range ms {
		out = appendRun(out, m)
	}
	return out
}

func appendRun(out []stage, m member) []stage {
	if n := len(out); n > 0 && !out[n-1].nat {
		last := &out[n-1]
		if m.nft != nil && last.nft != nil {
			last.nft[m.nft] = true
			return out
		}
		if m.nft == nil && last.nft == nil {
			last.ipt = append(last.ipt, m.ipt)
			return out
		}
	}
	if m.nft != nil {
		return append(out, stage{nft: map[*nftables.Chain]bool{m.nft: true}})
	}
	return append(out, stage{ipt: []string{m.ipt}})
}

// iptOrder is when an iptables table was registered among the nftables tables: its place in
// the nftables listing when iptables-nft made it; before everything for iptables-legacy (and
// when the listing does not have it), so that it runs after the nftables chains of its
// priority.
func (r *Rules) iptOrder(table string) int {
	if r.NFTables == nil || r.legacy {
		return -1
	}
	for i, t := range r.NFTables.Tables {
		if t.Family == "ip" && t.Name == table {
			return i << 16
		}
	}
	return -1
}

func (r *Rules) nftOrder(c *nftables.Chain) int {
	for i, t := range r.NFTables.Tables {
		if t == c.Table {
			return i<<16 + slices.Index(t.Order, c)
		}
	}
	return 1 << 30
}

// Rule is a rule of either ruleset; the zero Rule is none (a policy decided).
type Rule struct {
	IPT *iptables.Rule
	NFT *nftables.Rule
}

// IsZero reports whether r names no rule.
func (r Rule) IsZero() bool { return r.IPT == nil && r.NFT == nil }

// Ruleset is IPTables or NFTables; empty for the zero Rule.
func (r Rule) Ruleset() string {
	switch {
	case r.IPT != nil:
		return IPTables
	case r.NFT != nil:
		return NFTables
	}
	return ""
}

// Table and Chain are where the rule is.
func (r Rule) Table() string {
	switch {
	case r.IPT != nil:
		return r.IPT.Table
	case r.NFT != nil:
		return r.NFT.Table
	}
	return ""
}

// Chain is the rule's chain.
func (r Rule) Chain() string {
	switch {
	case r.IPT != nil:
		return r.IPT.Chain
	case r.NFT != nil:
		return r.NFT.Chain
	}
	return ""
}

// String prints an iptables rule as iptables-save does, and an nftables rule with its table,
// chain, handle and statements.
func (r Rule) String() string {
	switch {
	case r.IPT != nil:
		return r.IPT.String()
	case r.NFT != nil:
		return "nftables " + r.NFT.String()
	}
	return ""
}

// Step is one rule that matched, or a policy that applied, in either ruleset.
type Step struct {
	Ruleset string
	Table   string
	Chain   string
	Rule    Rule
	// Action is what followed, in the evaluator's words ("jump X", "DNAT", "vmap goto X",
	// "policy ACCEPT", ...).
	Action string
}

func (s Step) String() string {
	where := s.Table + "/" + s.Chain
	if s.Rule.IsZero() {
		return s.Ruleset + " " + where + ": " + s.Action
	}
	if s.Rule.NFT != nil {
		return s.Rule.String() + " => " + s.Action
	}
	return s.Ruleset + " " + where + ": " + s.Rule.String() + " => " + s.Action
}

// NAT is an address or port rewrite a rule made, or conntrack's reversal of one on a reply
// (Rule zero, Kind un-DNAT or un-SNAT).
type NAT struct {
	// Kind is DNAT, SNAT, MASQUERADE, REDIRECT, un-DNAT or un-SNAT, whichever ruleset made it.
	Kind          string
	Rule          Rule
	Before, After netip.AddrPort
	Note          string
}

func (n NAT) String() string { return fmt.Sprintf("%s %s -> %s", n.Kind, n.Before, n.After) }

// Outcome is one way a packet goes through a hook, across both rulesets.
type Outcome struct {
	Verdict iptables.Verdict
	// Packet is the packet as it leaves the hook, with its connection.
	Packet iptables.Packet
	NAT    []NAT
	Trace  []Step
	// Ruleset is the ruleset whose stage ended the hook with Drop, Reject or Unknown; empty
	// when every stage accepted.
	Ruleset string
	// Decider is the rule that dropped or rejected (zero when a policy did); Undecided the
	// rule not understood that decided an Unknown.
	Decider, Undecided Rule
	// Uncertain are rules with a match not understood that the walk went past (their
	// target would not have changed the outcome).
	Uncertain  []Rule
	RejectWith string
	// Probability is the share of packets on this way.
	Probability float64
	Note        string
}

// LastNAT returns the last rewrite a rule made (not conntrack's reversal), or nil.
func (o *Outcome) LastNAT() *NAT {
	for i := len(o.NAT) - 1; i >= 0; i-- {
		if !o.NAT[i].Rule.IsZero() {
			return &o.NAT[i]
		}
	}
	return nil
}

// PassThrough is the outcome of a hook without rules: the packet goes on as it came.
func PassThrough(pkt iptables.Packet) Outcome {
	return Outcome{Verdict: iptables.Accept, Packet: pkt, Probability: 1}
}

// Traverse evaluates pkt through every stage of the hook in priority order and returns one
// outcome per way it goes. A Drop, Reject or Unknown ends an outcome at its stage; an Accept
// goes on to the next stage, as in the kernel, where an accept ends only its own base chain.
func (r *Rules) Traverse(hook iptables.Hook, pkt iptables.Packet) []Outcome {
	cur := []Outcome{PassThrough(pkt)}
	for _, st := range r.stages[hook] {
		var next []Outcome
		for _, o := range cur {
			if o.Verdict != iptables.Accept {
				next = append(next, o)
				continue
			}
			if st.nat {
				next = append(next, r.natStage(hook, st.groups, o)...)
			} else {
				next = append(next, r.run(hook, st, o)...)
			}
			if len(next) > maxOutcomes {
				last := &next[len(next)-1]
				last.Verdict, last.Note = iptables.Unknown, fmt.Sprintf("more than %d ways through the rules", maxOutcomes)
				return next
			}
		}
		cur = next
	}
	return cur
}

// run walks one stage of one ruleset and continues o with each of its outcomes.
func (r *Rules) run(hook iptables.Hook, st stage, o Outcome) []Outcome {
	var out []Outcome
	if st.nft == nil {
		for _, so := range r.IPTables.TraverseTables(hook, o.Packet, r.Env, st.ipt...) {
			out = append(out, o.then(fromIPT(so)))
		}
		return out
	}
	for _, so := range r.NFTables.TraverseChains(hook, o.Packet, r.Env, func(c *nftables.Chain) bool { return st.nft[c] }) {
		out = append(out, o.then(fromNFT(so)))
	}
	return out
}

// natStage runs the nat stage: iptables' nat table and the nftables nat chains in priority
// order, each only while none before it bound the connection (the kernel's
// nf_nat_initialized), and the stage counted as done afterwards (its null binding). A reply
// skips the chains and has its connection's NAT reversed instead.
func (r *Rules) natStage(hook iptables.Hook, groups []stage, o Outcome) []Outcome {
	done := iptables.StatusDstNATDone
	if hook == iptables.PostRouting || hook == iptables.Input {
		done = iptables.StatusSrcNATDone
	}
	// Only a new connection's first packet is bound here, once per direction.
	binds := o.Packet.Conn.State == iptables.CtNew && o.Packet.Conn.Status&(done|iptables.StatusConfirmed) == 0
	if len(groups) == 0 {
		// No nat chain at all: conntrack still reverses a reply's NAT here.
		groups = []stage{{ipt: []string{iptables.TableNAT}}}
	}
	cur := []Outcome{o}
	var finished []Outcome
	for gi, g := range groups {
		var next []Outcome
		for _, c := range cur {
			for _, so := range r.run(hook, g, c) {
				switch {
				case so.Verdict != iptables.Accept, natSince(so.NAT[len(c.NAT):]), gi == len(groups)-1:
					if binds {
						so.Packet.Conn.Status |= done
					}
					finished = append(finished, so)
				default:
					if binds {
						// Nothing bound the connection yet: the next nat chain runs.
						so.Packet.Conn.Status &^= done
					}
					next = append(next, so)
				}
			}
		}
		cur = next
	}
	return finished
}

// natSince reports whether a rule (not conntrack) rewrote the packet among ns.
func natSince(ns []NAT) bool {
	for _, n := range ns {
		if !n.Rule.IsZero() {
			return true
		}
	}
	return false
}

// then continues o with the outcome of one more stage.
func (o Outcome) then(s Outcome) Outcome {
	n := o
	n.Packet = s.Packet
	n.Probability = o.Probability * s.Probability
	n.Trace = append(slices.Clip(o.Trace), s.Trace...)
	n.NAT = append(slices.Clip(o.NAT), s.NAT...)
	n.Uncertain = append(slices.Clip(o.Uncertain), s.Uncertain...)
	if s.Verdict != iptables.Accept {
		n.Verdict, n.Ruleset = s.Verdict, s.Ruleset
		n.Decider, n.Undecided, n.RejectWith, n.Note = s.Decider, s.Undecided, s.RejectWith, s.Note
	}
	return n
}

func fromIPT(o iptables.Outcome) Outcome {
	n := Outcome{Verdict: o.Verdict, Packet: o.Packet, Probability: o.Probability, RejectWith: o.RejectWith, Note: o.Note}
	if o.Verdict != iptables.Accept {
		n.Ruleset = IPTables
	}
	if o.Decider != nil && o.Verdict != iptables.Accept {
		n.Decider = Rule{IPT: o.Decider}
	}
	if o.Undecided != nil {
		n.Undecided = Rule{IPT: o.Undecided}
	}
	for _, s := range o.Trace {
		st := Step{Ruleset: IPTables, Table: s.Table, Chain: s.Chain, Action: s.Action}
		if s.Rule != nil {
			st.Rule = Rule{IPT: s.Rule}
		}
		n.Trace = append(n.Trace, st)
	}
	for _, x := range o.NAT {
		nat := NAT{Kind: x.Kind, Before: x.Before, After: x.After, Note: x.Note}
		if x.Rule != nil {
			nat.Rule = Rule{IPT: x.Rule}
		}
		n.NAT = append(n.NAT, nat)
	}
	for _, u := range o.Uncertain {
		n.Uncertain = append(n.Uncertain, Rule{IPT: u})
	}
	return n
}

// nftNATKinds names nftables' nat statements as iptables' targets are named.
var nftNATKinds = map[string]string{"dnat": "DNAT", "snat": "SNAT", "masquerade": "MASQUERADE", "redirect": "REDIRECT", "un-dnat": "un-DNAT", "un-snat": "un-SNAT"}

func fromNFT(o nftables.Outcome) Outcome {
	n := Outcome{Verdict: o.Verdict, Packet: o.Packet, Probability: o.Probability, RejectWith: o.RejectWith, Note: o.Note}
	if o.Verdict != iptables.Accept {
		n.Ruleset = NFTables
	}
	if o.Decider != nil {
		n.Decider = Rule{NFT: o.Decider}
	}
	if o.Undecided != nil {
		n.Undecided = Rule{NFT: o.Undecided}
	}
	for _, s := range o.Trace {
		st := Step{Ruleset: NFTables, Table: s.Table, Chain: s.Chain, Action: s.Action}
		if s.Rule != nil {
			st.Rule = Rule{NFT: s.Rule}
		}
		n.Trace = append(n.Trace, st)
	}
	for _, x := range o.NAT {
		kind := nftNATKinds[x.Kind]
		if kind == "" {
			kind = x.Kind
		}
		nat := NAT{Kind: kind, Before: x.Before, After: x.After, Note: x.Note}
		if x.Rule != nil {
			nat.Rule = Rule{NFT: x.Rule}
		}
		n.NAT = append(n.NAT, nat)
	}
	return n
}
