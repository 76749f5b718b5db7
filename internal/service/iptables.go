package service

import (
	"fmt"
	"strings"
	"sync"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

// iptablesProcessor follows a packet through kube-proxy's iptables rules: the nat table of
// the hook the packet enters by (PREROUTING, or OUTPUT for the host's own packets), then the
// filter table of the hook it takes next (INPUT, FORWARD or OUTPUT), where kube-proxy
// rejects packets for services without endpoints and drops those for Local policies with
// none on this node.
type iptablesProcessor struct {
	mu     sync.Mutex
	parsed map[*netstack.Netstack]parsedRules
}

type parsedRules struct {
	rs  *ruleset
	err error
}

func (p *iptablesProcessor) rules(stack *netstack.Netstack) (*ruleset, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.parsed[stack]; ok {
		return r.rs, r.err
	}
	rs, err := parseRuleset(stack.IPTables)
	p.parsed[stack] = parsedRules{rs, err}
	return rs, err
}

func (p *iptablesProcessor) Process(snap *cluster.Snapshot, a Arrival) (*Result, error) {
	if err := checkArrival(snap, a); err != nil {
		return nil, err
	}
	res := newResult(ModeIPTables, snap, a)
	rs, err := p.rules(a.Stack)
	if err != nil {
		res.Branches = []Branch{{Outcome: Undecided, Packet: a.Packet, Probability: 1}}
		res.Suspicions = append(res.Suspicions, model.Suspicion{
			Level: model.Info, Reason: model.ReasonRuleNotUnderstood, Node: a.Node,
			Message: fmt.Sprintf("The iptables rules of node %s cannot be read, so the service translation is not simulated: %v", a.Node, err),
		})
		return res, nil
	}

	natHook := "PREROUTING"
	if a.Origin == FromHost {
		natHook = "OUTPUT"
	}
	nat := &walker{rs: rs, table: "nat", stack: a.Stack, in: a.InInterface}
	for _, np := range nat.run(natHook, a.Packet) {
		b := Branch{Packet: np.pkt, Probability: np.prob, Masquerade: np.pkt.Mark&masqMark != 0}
		addRules(&b, "nat", np.rules())
		switch np.verdict {
		case vDNAT:
			b.Outcome, b.dnat = Translated, true
		case vDrop:
			b.Outcome = Dropped
		case vUnknown:
			b.Outcome = Undecided
		default:
			b.Outcome = Untranslated
		}
		if np.decided != nil {
			b.Rule = "nat: " + np.decided.text
		}
		if np.verdict == vUnknown {
			b.Suspicions = append(b.Suspicions, notUnderstood(a.Node, "nat", np))
			res.Branches = append(res.Branches, b)
			continue
		}
		if b.Outcome == Dropped {
			res.Branches = append(res.Branches, b)
			continue
		}
		res.Branches = append(res.Branches, p.filter(rs, a, b, np)...)
	}
	explain(snap, a, res)
	compare(snap, res, a, rs)
	sortBranches(res.Branches)
	return res, nil
}

// filter runs a branch through the filter table of the hook it takes after the nat table.
func (p *iptablesProcessor) filter(rs *ruleset, a Arrival, b Branch, np path) []Branch {
	hook := "FORWARD"
	switch {
	case a.Origin == FromHost:
		hook = "OUTPUT"
	case isLocal(a.Stack, np.pkt.Dst):
		hook = "INPUT"
	}
	f := &walker{rs: rs, table: "filter", stack: a.Stack, in: a.InInterface, dnatted: b.Outcome == Translated}
	var out []Branch
	for _, fp := range f.run(hook, np.pkt) {
		fb := b
		fb.Probability = b.Probability * fp.prob
		fb.Rules = append([]string(nil), b.Rules...)
		fb.Suspicions = append([]model.Suspicion(nil), b.Suspicions...)
		addRules(&fb, "filter", fp.rules())
		switch fp.verdict {
		case vDrop:
			fb.Outcome, fb.Rule = Dropped, "filter: "+fp.decided.text
		case vReject:
			fb.Outcome, fb.Rule = Rejected, "filter: "+fp.decided.text
		case vUnknown:
			fb.Outcome = Undecided
			if fp.decided != nil {
				fb.Rule = "filter: " + fp.decided.text
			}
			fb.Suspicions = append(fb.Suspicions, notUnderstood(a.Node, "filter", fp))
		}
		out = append(out, fb)
	}
	return out
}

func addRules(b *Branch, table string, rules []*rule) {
	for _, r := range rules {
		b.Rules = append(b.Rules, table+": "+r.text)
	}
}

func notUnderstood(node, table string, p path) model.Suspicion {
	rule := ""
	if p.decided != nil {
		rule = table + ": " + p.decided.text
	}
	return model.Suspicion{
		Level: model.Info, Reason: model.ReasonRuleNotUnderstood, Node: node, Rule: rule,
		Message: fmt.Sprintf("A %s rule on node %s decides this packet but is not understood (%s), so this branch is undecided", table, node, p.why),
	}
}

// serviceRuleText finds the rules of a ruleset that belong to a service port: its chains by
// their hashed names, and the filter rules whose comment names it.
func serviceRules(rs *ruleset, chains []string, name string) []*rule {
	var out []*rule
	for _, t := range []string{"nat", "filter"} {
		for _, c := range rs.tables[t] {
			for _, r := range c.rules {
				owned := false
				for _, ch := range chains {
					if r.chain == ch || r.target == ch {
						owned = true
					}
				}
				if owned || commentNames(r.comment, name) {
					out = append(out, r)
				}
			}
		}
	}
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
