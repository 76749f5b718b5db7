package service

import (
	"fmt"
	"strings"
	"sync"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/iptables"
)

// masqMark is kube-proxy's mark for "masquerade this packet on the way out" (KUBE-MARK-MASQ).
const masqMark = 0x4000

// iptablesProcessor follows a packet through kube-proxy's iptables rules with the engine's
// one netfilter evaluator (internal/netstack/iptables): the hook the packet enters by
// (PREROUTING, or OUTPUT for the host's own packets, which also runs the filter table), then,
// for PREROUTING, the hook the routing decision sends it to (INPUT or FORWARD), whose filter
// table holds kube-proxy's REJECT for services without endpoints and DROP for Local policies
// with none on this node. Explain then reads what the evaluator did.
type iptablesProcessor struct {
	mu     sync.Mutex
	parsed map[*netstack.Netstack]parsedRules
}

type parsedRules struct {
	rs  *iptables.Ruleset
	env *iptables.Env
	err error
}

// rules parses a node's rules and builds its evaluation environment once per Processor.
func (p *iptablesProcessor) rules(stack *netstack.Netstack) (*iptables.Ruleset, *iptables.Env, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.parsed[stack]; ok {
		return r.rs, r.env, r.err
	}
	r := parsedRules{}
	r.rs, r.err = iptables.Parse(stack.IPTables)
	if r.err == nil {
		r.env, r.err = iptables.EnvFromNetstack(stack)
	}
	if r.err != nil {
		r.err = fmt.Errorf("node rules: %w", r.err)
	}
	p.parsed[stack] = r
	return r.rs, r.env, r.err
}

func (p *iptablesProcessor) process(snap *cluster.Snapshot, a Arrival, mode Mode) (*Result, error) {
	if err := checkArrival(snap, a); err != nil {
		return nil, err
	}
	rs, env, err := p.rules(a.Stack)
	if err != nil {
		res := newResult(mode, snap, a)
		res.Branches = []Branch{{Outcome: Undecided, Packet: a.Packet, Probability: 1}}
		res.Suspicions = append(res.Suspicions, model.Suspicion{
			Level: model.Info, Reason: model.ReasonRuleNotUnderstood, Node: a.Node,
			Message: fmt.Sprintf("The iptables rules of node %s cannot be read, so the service translation is not simulated: %v", a.Node, err),
		})
		return res, nil
	}
	res := explainIPTables(snap, a, mode, rs, Traverse(rs, env, a))
	sortBranches(res.Branches)
	return res, nil
}

// Pass is one way a packet went through a node's netfilter hooks, as the shared evaluator
// computed it. Entry is the hook that translates service addresses: PREROUTING, or OUTPUT for
// the node's own packets (whose walk also holds the filter table). Next is, for a packet that
// went on from PREROUTING, the outcome of the hook the routing decision took it to (INPUT or
// FORWARD); nil when Entry decided, or when the caller did not walk on.
type Pass struct {
	Entry iptables.Outcome
	Next  *iptables.Outcome
}

// Traverse runs the arrival's packet through the node's rules as the kernel would: the entry
// hook, then for each branch that PREROUTING accepted, the hook the route takes it to. It is
// what Process explains; a caller that already walked the hooks (the diagnosis's hop) passes
// its own passes to Explain instead, so that every packet is translated once.
func Traverse(rs *iptables.Ruleset, env *iptables.Env, a Arrival) []Pass {
	pkt := iptables.FromModel(a.Packet)
	hook := iptables.PreRouting
	if a.Origin == FromHost {
		hook = iptables.Output
		pkt.Out = outInterface(a.Stack, pkt)
	} else {
		pkt.In = a.InInterface
	}
	var out []Pass
	for _, o := range rs.Traverse(hook, pkt, env) {
		if hook != iptables.PreRouting || o.Verdict != iptables.Accept {
			out = append(out, Pass{Entry: o})
			continue
		}
		next, fp := iptables.Forward, o.Packet
		if env.IsLocal(fp.Dst) {
			next = iptables.Input
		} else {
			fp.Out = outInterface(a.Stack, fp)
		}
		for _, f := range rs.Traverse(next, fp, env) {
			out = append(out, Pass{Entry: o, Next: &f})
		}
	}
	return out
}

// outInterface is the interface the node routes the packet out of, when it can tell.
func outInterface(stack *netstack.Netstack, p iptables.Packet) string {
	if stack == nil {
		return ""
	}
	r := stack.LookupRoute(netstack.RouteQuery{Dst: p.Dst, Mark: p.Mark, IPProto: int(p.Proto), SPort: p.SrcPort, DPort: p.DstPort})
	if !r.Routed() {
		return ""
	}
	return r.Device
}

// Explain says what the node's service rules did with the arrival's packet, from the passes
// the evaluator made (Traverse, or the hop that walked the same hooks), and compares it with
// what the Service and its EndpointSlices ask for. It serves nodes whose netfilter rules are
// the service proxy: kube-proxy in iptables mode, or no kube-proxy at all (DetectMode says
// which); other modes translate outside netfilter and go through Process. rs is the node's
// parsed ruleset, which names the rules kube-proxy wrote for the service when none of them
// matched (nil leaves that evidence out). Branch i reads passes[i].
func Explain(snap *cluster.Snapshot, a Arrival, rs *iptables.Ruleset, passes []Pass) (*Result, error) {
	if err := checkArrival(snap, a); err != nil {
		return nil, err
	}
	mode := DetectMode(a.Stack)
	if mode != ModeNone {
		mode = ModeIPTables
	}
	return explainIPTables(snap, a, mode, rs, passes), nil
}

func explainIPTables(snap *cluster.Snapshot, a Arrival, mode Mode, rs *iptables.Ruleset, passes []Pass) *Result {
	res := newResult(mode, snap, a)
	for i, p := range passes {
		b := passBranch(a, p)
		b.Pass = i
		res.Branches = append(res.Branches, b)
	}
	explain(snap, a, res)
	compare(snap, res, a, rs)
	return res
}

// PassThrough is the outcome of a hook in a namespace without rules: the packet goes on as
// it came, as the first packet of its connection.
func PassThrough(pkt model.Packet) iptables.Outcome {
	return iptables.Outcome{Verdict: iptables.Accept, Packet: iptables.FromModel(pkt), Probability: 1}
}

// passBranch reads one pass as a branch of the service proxy.
func passBranch(a Arrival, p Pass) Branch {
	final := p.Entry
	prob := p.Entry.Probability
	if p.Next != nil {
		final = *p.Next
		prob *= p.Next.Probability
	}
	// Service translation and masquerade marking happen in the entry hook's nat table.
	b := Branch{
		Packet:      final.Packet.Model(),
		Probability: prob,
		Masquerade:  p.Entry.Packet.Mark&masqMark != 0,
		dnat:        p.Entry.Packet.Conn.Status&iptables.StatusDNAT != 0,
	}
	addRules(&b, p.Entry.Trace)
	if p.Next != nil {
		addRules(&b, p.Next.Trace)
	}
	switch final.Verdict {
	case iptables.Drop:
		b.Outcome, b.decider = Dropped, final.Decider
	case iptables.Reject:
		b.Outcome, b.decider = Rejected, final.Decider
	case iptables.Unknown:
		b.Outcome, b.decider = Undecided, final.Undecided
		b.Suspicions = append(b.Suspicions, notUnderstood(a.Node, final))
	default:
		b.Outcome = Untranslated
		if b.dnat {
			b.Outcome = Translated
		}
	}
	if b.decider == nil && b.dnat {
		for _, n := range p.Entry.NAT {
			if n.Kind == "DNAT" || n.Kind == "REDIRECT" {
				b.decider = n.Rule
			}
		}
	}
	if b.decider != nil {
		b.Rule = ruleText(b.decider)
	}
	return b
}

// ruleText is a rule as the evidence prints it: its table, then the rule as saved.
func ruleText(r *iptables.Rule) string { return r.Table + ": " + r.String() }

// addRules appends every rule that matched on the way, in order.
func addRules(b *Branch, trace []iptables.Step) {
	for _, s := range trace {
		if s.Rule != nil {
			b.Rules = append(b.Rules, ruleText(s.Rule))
		}
	}
}

func notUnderstood(node string, o iptables.Outcome) model.Suspicion {
	rule, table := "", "netfilter"
	if o.Undecided != nil {
		rule, table = ruleText(o.Undecided), o.Undecided.Table
	}
	return model.Suspicion{
		Level: model.Info, Reason: model.ReasonRuleNotUnderstood, Node: node, Rule: rule,
		Message: fmt.Sprintf("A %s rule on node %s decides this packet but is not understood (%s), so this branch is undecided", table, node, o.Note),
	}
}

// comment returns a rule's -m comment text, empty when it has none.
func comment(r *iptables.Rule) string {
	if r == nil {
		return ""
	}
	for _, m := range r.Matches {
		if c, ok := m.(*iptables.CommentMatch); ok && m.Module() == "comment" {
			return c.Comment
		}
	}
	return ""
}

// serviceRules finds the rules of a ruleset that belong to a service port: its chains by
// their hashed names, and the rules whose comment names it.
func serviceRules(rs *iptables.Ruleset, chains []string, name string) []*iptables.Rule {
	var out []*iptables.Rule
	rs.AllRules(func(r *iptables.Rule) {
		if r.Table != iptables.TableNAT && r.Table != iptables.TableFilter {
			return
		}
		for _, ch := range chains {
			if r.Chain == ch || r.Target != nil && r.Target.Name() == ch {
				out = append(out, r)
				return
			}
		}
		if commentNames(comment(r), name) {
			out = append(out, r)
		}
	})
	return out
}

// commentNames reports whether a kube-proxy comment is about the service port name
// ("ns/svc:port cluster IP", "ns/svc has no endpoints", "ns/svc:port -> ip:port").
func commentNames(comment, name string) bool {
	if comment == "" {
		return false
	}
	for _, prefix := range []string{name + " ", "for " + name + " "} {
		if strings.HasPrefix(comment, prefix) || strings.Contains(comment, " "+prefix) {
			return true
		}
	}
	return comment == name
}
