package service

import (
	"fmt"
	"strings"
	"sync"

	"github.com/netdiag/netdiag/internal/netstack/nf"
	"github.com/netdiag/netdiag/internal/netstack/nftables"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/iptables"
	"github.com/netdiag/netdiag/internal/netstack/netfilter"
)

// masqMark is kube-proxy's mark for "masquerade this packet on the way out" (KUBE-MARK-MASQ).
const masqMark = 0x4000

// netfilterProcessor follows a packet through kube-proxy's rules, in iptables or nftables
// mode, with the engine's one netfilter evaluator (internal/netstack/netfilter, which walks
// iptables' tables and nftables' base chains in the kernel's order): the hook the packet
// enters by (PREROUTING, or OUTPUT for the host's own packets, which also runs the filter
// stage), then, for PREROUTING, the hook the routing decision sends it to (INPUT or
// FORWARD), where kube-proxy rejects services without endpoints and drops Local policies
// with none on this node. Explain then reads what the evaluator did.
type netfilterProcessor struct {
	mu     sync.Mutex
	parsed map[*netstack.Netstack]parsedRules
}

type parsedRules struct {
	rules *netfilter.Rules
	err   error
}

// rules parses a node's rules and builds its evaluation environment once per Processor.
func (p *netfilterProcessor) rules(stack *netstack.Netstack) (*netfilter.Rules, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.parsed[stack]; ok {
		return r.rules, r.err
	}
	r := parsedRules{}
	r.rules, r.err = ParseRules(stack)
	p.parsed[stack] = r
	return r.rules, r.err
}

// ParseRules reads a node's iptables and nftables rules into the evaluator.
func ParseRules(stack *netstack.Netstack) (*netfilter.Rules, error) {
	rules, err := netfilter.FromNetstack(stack, netfilter.Parsers{})
	if err != nil {
		return nil, fmt.Errorf("node rules: %w", err)
	}
	return rules, nil
}

func (p *netfilterProcessor) process(snap *cluster.Snapshot, a Arrival, mode Mode) (*Result, error) {
	if err := checkArrival(snap, a); err != nil {
		return nil, err
	}
	rules, err := p.rules(a.Stack)
	if err != nil {
		res := newResult(mode, snap, a)
		res.Branches = []Branch{{Outcome: Undecided, Packet: a.Packet, Probability: 1}}
		res.Suspicions = append(res.Suspicions, model.Suspicion{
			Level: model.Info, Reason: model.ReasonRuleNotUnderstood, Node: a.Node,
			Message: fmt.Sprintf("The netfilter rules of node %s cannot be read, so the service translation is not simulated: %v", a.Node, err),
		})
		return res, nil
	}
	res := explainNetfilter(snap, a, mode, rules, Traverse(rules, a))
	sortBranches(res.Branches)
	return res, nil
}

// Pass is one way a packet went through a node's netfilter hooks, as the shared evaluator
// computed it. Entry is the hook that translates service addresses: PREROUTING, or OUTPUT for
// the node's own packets (whose walk also holds the filter stage). Next is, for a packet that
// went on from PREROUTING, the outcome of the hook the routing decision took it to (INPUT or
// FORWARD); nil when Entry decided, or when the caller did not walk on.
type Pass struct {
	Entry nf.Outcome
	Next  *nf.Outcome
}

// Traverse runs the arrival's packet through the node's rules as the kernel would: the entry
// hook, then for each branch that PREROUTING accepted, the hook the route takes it to. It is
// what Process explains; a caller that already walked the hooks (the diagnosis's hop) passes
// its own passes to Explain instead, so that every packet is translated once.
func Traverse(rules *netfilter.Rules, a Arrival) []Pass {
	pkt := nf.FromModel(a.Packet)
	hook := nf.PreRouting
	if a.Origin == FromHost {
		hook = nf.Output
		pkt.Out = outInterface(a.Stack, pkt)
	} else {
		pkt.In = a.InInterface
	}
	var out []Pass
	for _, o := range rules.Traverse(hook, pkt) {
		if hook != nf.PreRouting || o.Verdict != nf.Accept {
			out = append(out, Pass{Entry: o})
			continue
		}
		next, fp := nf.Forward, o.Packet
		if rules.Env.IsLocal(fp.Dst) {
			next = nf.Input
		} else {
			fp.Out = outInterface(a.Stack, fp)
		}
		for _, f := range rules.Traverse(next, fp) {
			out = append(out, Pass{Entry: o, Next: &f})
		}
	}
	return out
}

// outInterface is the interface the node routes the packet out of, when it can tell.
func outInterface(stack *netstack.Netstack, p nf.Packet) string {
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
// the service proxy: kube-proxy in iptables or nftables mode, or no kube-proxy at all
// (DetectMode says which); ipvs translates outside netfilter and goes through Process. rules
// are the node's parsed rules, which name the rules kube-proxy wrote for the service when
// none of them matched (nil leaves that evidence out). Branch i reads passes[i].
func Explain(snap *cluster.Snapshot, a Arrival, rules *netfilter.Rules, passes []Pass) (*Result, error) {
	if err := checkArrival(snap, a); err != nil {
		return nil, err
	}
	mode := DetectMode(a.Stack)
	if mode == ModeIPVS {
		// The hop walked the netfilter hooks only; ipvs rules are not among them.
		mode = ModeIPTables
	}
	return explainNetfilter(snap, a, mode, rules, passes), nil
}

func explainNetfilter(snap *cluster.Snapshot, a Arrival, mode Mode, rules *netfilter.Rules, passes []Pass) *Result {
	res := newResult(mode, snap, a)
	for i, p := range passes {
		b := passBranch(a, p)
		b.Pass = i
		res.Branches = append(res.Branches, b)
	}
	explain(snap, a, res)
	compare(snap, res, a, rules)
	return res
}

// PassThrough is the outcome of a hook in a namespace without rules: the packet goes on as
// it came, as the first packet of its connection.
func PassThrough(pkt model.Packet) nf.Outcome {
	return nf.PassThrough(nf.FromModel(pkt))
}

// passBranch reads one pass as a branch of the service proxy.
func passBranch(a Arrival, p Pass) Branch {
	final := p.Entry
	prob := p.Entry.Probability
	if p.Next != nil {
		final = *p.Next
		prob *= p.Next.Probability
	}
	// Service translation and masquerade marking happen in the entry hook's nat stage.
	b := Branch{
		Packet:      final.Packet.Model(),
		Probability: prob,
		Masquerade:  p.Entry.Packet.Mark&masqMark != 0,
		dnat:        p.Entry.Packet.Conn.Status&nf.StatusDNAT != 0,
	}
	addRules(&b, p.Entry.Trace)
	if rule, list := pinnedByAffinity(p.Entry.Trace); rule != nil {
		b.Pinned, b.pinRule, b.pinList = true, ruleText(rule), list
	}
	if p.Next != nil {
		addRules(&b, p.Next.Trace)
	}
	switch final.Verdict {
	case nf.Drop:
		b.Outcome, b.decider = Dropped, final.Decider
	case nf.Reject:
		b.Outcome, b.decider = Rejected, final.Decider
	case nf.Unknown:
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
	b.noEndpoints = passesNoEndpointCheck(p.Entry.Trace) || p.Next != nil && passesNoEndpointCheck(p.Next.Trace)
	nft, _ := b.decider.(*nftables.Rule)
	b.unknownPort = nft != nil && nft.Table == nftKubeProxyTable && nft.Chain == nftClusterIPsCheck
	return b
}

// ruleText is a rule as the evidence prints it: an iptables rule after its table, as saved;
// an nftables rule with its table, chain and handle.
func ruleText(r nf.Rule) string {
	if r, ok := r.(*iptables.Rule); ok {
		return r.Table + ": " + r.String()
	}
	return r.String()
}

// addRules appends every rule that matched on the way, in order.
func addRules(b *Branch, trace []nf.Step) {
	for _, s := range trace {
		if s.Rule != nil {
			b.Rules = append(b.Rules, ruleText(s.Rule))
		}
	}
}

// pinnedByAffinity returns the rule that sent the packet to its endpoint because the
// client is on the endpoint's affinity list, and the list; nil when none did: in iptables mode a matched rule whose recent
// match checks the list (--rcheck), in nftables mode a matched rule of kube-proxy's table
// that looks the source up in an affinity set. The trace holds matched rules only, so such
// a rule on it found the client.
func pinnedByAffinity(trace []nf.Step) (nf.Rule, string) {
	for _, s := range trace {
		switch r := s.Rule.(type) {
		case *iptables.Rule:
			for _, m := range r.Matches {
				if rm, ok := m.(*iptables.RecentMatch); ok && !rm.Not && (rm.Op == "rcheck" || rm.Op == "update") {
					return r, rm.Name
				}
			}
		case *nftables.Rule:
			if r.Table != nftKubeProxyTable {
				continue
			}
			if set := affinitySetLookedUp(r.Exprs); set != "" {
				return r, set
			}
		}
	}
	return nil, ""
}

// affinitySetLookedUp is the kube-proxy affinity set a rule matches against
// ({"match": {"right": "@affinity-..."}}), empty when it matches against none.
func affinitySetLookedUp(exprs []any) string {
	for _, e := range exprs {
		m, _ := e.(map[string]any)
		match, _ := m["match"].(map[string]any)
		if right, ok := match["right"].(string); ok && strings.HasPrefix(right, "@"+nftAffinitySetPrefix) {
			return right[1:]
		}
	}
	return ""
}

func notUnderstood(node string, o nf.Outcome) model.Suspicion {
	rule, table := "", "netfilter"
	if o.Undecided != nil {
		t, _ := o.Undecided.Place()
		rule, table = ruleText(o.Undecided), o.Undecided.Ruleset()+" "+t
	}
	return model.Suspicion{
		Level: model.Info, Reason: model.ReasonRuleNotUnderstood, Node: node, Rule: rule,
		Message: fmt.Sprintf("A %s rule on node %s decides this packet but is not understood (%s), so this branch is undecided", table, node, o.Note),
	}
}

// kubeProxyNames reports whether the rule that stopped a branch is kube-proxy's own for the
// service port: in iptables mode a rule whose comment names it; in nftables mode a rule of
// kube-proxy's table reached through its no-endpoints verdict maps (keyed by the packet's own
// address, protocol and port, so about this service port) or in a chain named after it.
func kubeProxyNames(b *Branch, svc *corev1.Service, port *corev1.ServicePort) bool {
	switch r := b.decider.(type) {
	case *iptables.Rule:
		return commentNames(comment(r), portName(svc, port))
	case *nftables.Rule:
		if r.Table != nftKubeProxyTable {
			return false
		}
		return b.noEndpoints || b.unknownPort || nftChainNames(r.Chain, svc, port)
	}
	return false
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
	if rs == nil {
		return nil
	}
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
