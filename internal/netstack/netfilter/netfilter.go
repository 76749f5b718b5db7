package netfilter

import (
	"fmt"
	"slices"

	"github.com/netdiag/netdiag/internal/netstack/iptables"
	"github.com/netdiag/netdiag/internal/netstack/nf"
	"github.com/netdiag/netdiag/internal/netstack/nftables"
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
	stages map[nf.Hook][]stage
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
	r := &Rules{IPTables: ipt, NFTables: nft, Env: env, legacy: opts.Legacy, stages: map[nf.Hook][]stage{}}
	if nft.UsesConntrack() {
		env.ConntrackInUse = true
	}
	for _, h := range []nf.Hook{nf.PreRouting, nf.Input, nf.Forward, nf.Output, nf.PostRouting} {
		r.stages[h] = r.order(h)
	}
	return r
}

// NotUnderstood lists the rules of both rulesets with something the evaluators do not
// understand, found when they were parsed: iptables' first, then the nftables tables that
// are evaluated (not those left to iptables). A packet that reaches one is Unknown where the
// rule could decide.
func (r *Rules) NotUnderstood() []nf.Rule {
	var out []nf.Rule
	for _, x := range r.IPTables.NotUnderstood() {
		out = append(out, x)
	}
	if r.NFTables == nil {
		return out
	}
	skipped := map[string]bool{}
	for _, t := range r.NFTables.Tables {
		if r.skipNFT(t) {
			skipped[t.Name] = true
		}
	}
	for _, x := range r.NFTables.NotUnderstood() {
		if !skipped[x.Table] {
			out = append(out, x)
		}
	}
	return out
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

// order lays out a hook's stages by priority.
func (r *Rules) order(h nf.Hook) []stage {
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
	if h != nf.Forward {
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

// Traverse evaluates pkt through every stage of the hook in priority order and returns one
// outcome per way it goes. A Drop, Reject or Unknown ends an outcome at its stage; an Accept
// goes on to the next stage, as in the kernel, where an accept ends only its own base chain.
func (r *Rules) Traverse(hook nf.Hook, pkt nf.Packet) []nf.Outcome {
	cur := []nf.Outcome{nf.PassThrough(pkt)}
	for _, st := range r.stages[hook] {
		var next []nf.Outcome
		for _, o := range cur {
			if o.Verdict != nf.Accept {
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
				last.Verdict, last.Note = nf.Unknown, fmt.Sprintf("more than %d ways through the rules", maxOutcomes)
				return next
			}
		}
		cur = next
	}
	return cur
}

// run walks one stage of one ruleset and continues o with each of its outcomes.
func (r *Rules) run(hook nf.Hook, st stage, o nf.Outcome) []nf.Outcome {
	var out []nf.Outcome
	if st.nft == nil {
		for _, so := range r.IPTables.TraverseTables(hook, o.Packet, r.Env, st.ipt...) {
			out = append(out, o.Then(so))
		}
		return out
	}
	for _, so := range r.NFTables.TraverseChains(hook, o.Packet, r.Env, func(c *nftables.Chain) bool { return st.nft[c] }) {
		out = append(out, o.Then(so))
	}
	return out
}

// natStage runs the nat stage: iptables' nat table and the nftables nat chains in priority
// order, each only while none before it bound the connection (the kernel's
// nf_nat_initialized), and the stage counted as done afterwards (its null binding). A reply
// skips the chains and has its connection's NAT reversed instead.
func (r *Rules) natStage(hook nf.Hook, groups []stage, o nf.Outcome) []nf.Outcome {
	done := hook.NATDone()
	// Only a new connection's first packet is bound here, once per direction.
	binds := o.Packet.Conn.State == nf.CtNew && o.Packet.Conn.Status&(done|nf.StatusConfirmed) == 0
	if len(groups) == 0 {
		// No nat chain at all: conntrack still reverses a reply's NAT here.
		groups = []stage{{ipt: []string{iptables.TableNAT}}}
	}
	cur := []nf.Outcome{o}
	var finished []nf.Outcome
	for gi, g := range groups {
		var next []nf.Outcome
		for _, c := range cur {
			for _, so := range r.run(hook, g, c) {
				switch {
				case so.Verdict != nf.Accept, natSince(so.NAT[len(c.NAT):]), gi == len(groups)-1:
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
func natSince(ns []nf.NAT) bool {
	for _, n := range ns {
		if n.Rule != nil {
			return true
		}
	}
	return false
}
