package calico

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/nf"
	"github.com/netdiag/netdiag/internal/plugin"
	cpolicy "github.com/netdiag/netdiag/internal/policy/calico"
)

// Calico's policy model in the walk. Felix's real chains decide the packet where the node's
// rules were collected: the model then says which object each chain comes from, names the
// policy a drop enforces, and reports where chains and objects disagree
// (CalicoPolicyNotProgrammed). Where no felix chain was collected, the model alone decides
// and says so. Kubernetes NetworkPolicies and the profiles keep their own stage
// (NetworkPolicyDenied), so a cluster without Calico's own objects reads as before.

// felixChains are the chains of felix's a node's snapshot holds.
type felixChains struct {
	names map[string]bool
	nft   bool
}

var (
	iptablesChain = regexp.MustCompile(`(?m)^:(cali-\S+)`)
	nftablesChain = regexp.MustCompile(`"name":\s*"([^"]*cali-[^"]*)"`)
)

// chainsOf returns felix's chains on a node, or nil when none was collected (no rules in
// the snapshot, or felix not running there).
func chainsOf(stack *netstack.Netstack) *felixChains {
	if stack == nil {
		return nil
	}
	c := &felixChains{names: map[string]bool{}}
	for _, m := range iptablesChain.FindAllStringSubmatch(stack.IPTables, -1) {
		c.names[m[1]] = true
	}
	if len(c.names) == 0 {
		for _, m := range nftablesChain.FindAllStringSubmatch(stack.NFTables, -1) {
			_, name, _ := felixChain(m[1])
			c.names[name] = true
			c.nft = true
		}
	}
	if len(c.names) == 0 {
		return nil
	}
	return c
}

func (c *felixChains) has(name string) bool { return c.names[name] }

// felixChain reads one of felix's chain names as a ruleset holds it: iptables names it bare
// ("cali-fw-eth0"); felix's nftables dataplane, whose chains share one table, puts the
// iptables table the chain stands for in front ("mangle-cali-fh-eth0"). table is that
// prefix, empty for a bare name; ok is false for a chain that is not felix's.
func felixChain(name string) (table, chain string, ok bool) {
	i := strings.Index(name, "cali-")
	if i < 0 {
		return "", "", false
	}
	return strings.TrimSuffix(name[:i], "-"), name[i:], true
}

// byCalico reports whether one of Calico's own policies decided, rather than a Kubernetes
// NetworkPolicy or a profile.
func byCalico(v cpolicy.Verdict) bool {
	return v.Decided.Policy.Name != "" && !strings.HasPrefix(v.Decided.Policy.Name, cpolicy.KNPPrefix)
}

func dirWord(d cpolicy.Direction) string { return strings.ToLower(string(d)) }

// decision writes who decided as a person reads it, with the flow log's words.
func decision(v cpolicy.Verdict) string {
	h := v.Decided
	switch {
	case v.Failsafe:
		return "felix's failsafe rules"
	case h.Profile != "":
		return "profile " + h.Profile + " (" + h.FlowLog() + ")"
	case h.Rule < 0:
		return fmt.Sprintf("the end of tier %s, where %s selected %s and no rule decided (%s)", h.Tier, policyList(v.Selected), v.Endpoint, h.FlowLog())
	case h.Policy.Name != "":
		return fmt.Sprintf("%s %s, %s rule %d (%s)", h.Policy.Kind(), h.Policy, dirWord(v.Direction), h.Rule, h.FlowLog())
	}
	return "no policy"
}

func policyList(ids []cpolicy.PolicyID) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.Kind() + " " + id.String()
	}
	return strings.Join(out, ", ")
}

func endpointWhere(ep *cpolicy.Endpoint) (node, pod string) {
	if ep.Kind == cpolicy.Workload {
		return ep.Node, ep.Namespace + "/" + ep.Name
	}
	return ep.Node, ""
}

// denied is the CalicoPolicyDenied finding of a verdict.
func denied(v cpolicy.Verdict, how string) model.Suspicion {
	node, pod := endpointWhere(v.Endpoint)
	s := model.Suspicion{Level: model.Critical, Reason: model.ReasonCalicoPolicyDenied, Node: node, Pod: pod, Rule: v.Decided.FlowLog(),
		Message: fmt.Sprintf("Calico denies %s at %s: %s decides%s", dirWord(v.Direction), v.Endpoint, decision(v), how)}
	if v.Decided.Rule < 0 {
		s.Message += "; add a rule that allows the traffic to one of these policies, or a Pass to a later tier"
	} else {
		s.Message += "; change that rule, or allow the traffic in an earlier rule or tier"
	}
	if len(v.Uncertain) > 0 {
		s.Message += " (not evaluated on the way: " + strings.Join(v.Uncertain, "; ") + ")"
	}
	return s
}

func notProgrammed(ep *cpolicy.Endpoint, format string, args ...any) model.Suspicion {
	node, pod := endpointWhere(ep)
	return model.Suspicion{Level: model.Warning, Reason: model.ReasonCalicoPolicyNotProgrammed, Node: node, Pod: pod,
		Message: fmt.Sprintf(format, args...)}
}

func step(h *plugin.Hop, v cpolicy.Verdict) {
	action := "accept"
	if !v.Allowed {
		action = "drop"
	}
	h.Step("calico-policy", action, fmt.Sprintf("%s at %s: %s", dirWord(v.Direction), v.Endpoint, decision(v)))
}

// checkProgrammed reports Calico's own policies that the objects apply at ep and for
// which the node holds no chain of felix's. Kubernetes NetworkPolicies keep their own
// stage, which decides them whatever the chains.
func checkProgrammed(h *plugin.Hop, v cpolicy.Verdict, chains *felixChains) {
	if chains == nil {
		return
	}
	for _, id := range v.Applied {
		if strings.HasPrefix(id.Name, cpolicy.KNPPrefix) {
			continue
		}
		name := id.ChainName(v.Direction == cpolicy.Ingress, chains.nft)
		if !chains.has(name) {
			h.Record(notProgrammed(v.Endpoint, "%s %s selects %s for %s, but %s has no chain %s for it: felix has not programmed the policy (not synced, or the policy is newer than its last sync), so the node's chains, which decide the packet, do not enforce it",
				id.Kind(), id, v.Endpoint, dirWord(v.Direction), v.Endpoint.Node, name))
		}
	}
}

// policy is the pod's policy stage in Calico's model (hop.Extensions.Policy).
func (p *Pod) policy(h *plugin.Hop, egress bool) (handled, allowed bool) {
	m := p.plugin.model
	if m == nil {
		return false, false
	}
	env := p.plugin.env
	toService := env.Question.Destination.Type == model.EndpointService
	if egress && toService {
		// As in the shared stage: decided on the translated packet, where it arrives.
		return false, false
	}
	pkt := cpolicy.PacketOf(h.Packet)
	self := cpolicy.WorkloadEndpoint(p.Pod, env.Cluster.Namespace(p.Pod.Namespace))
	chains := chainsOf(env.NodeStack(p.Pod.Spec.NodeName))
	dir := cpolicy.Ingress
	if egress {
		dir = cpolicy.Egress
	}
	type judged struct {
		v      cpolicy.Verdict
		chains *felixChains
		passed bool
	}
	v := m.Evaluate(self, dir, cpolicy.StageNormal, pkt)
	if byCalico(v) && m.TierOrder(v.Decided.Tier) > cpolicy.AdminTierOrder && plugin.AdminPolicyDecides(h, egress) {
		// An AdminNetworkPolicy rule decides in its tier before this one: the shared stage
		// says it, naming the rule.
		return false, false
	}
	checkProgrammed(h, v, chains)
	// At the destination the packet has passed every chain on the way; egress at the
	// source is still ahead of its node's.
	all := []judged{{v, chains, !egress}}
	if !egress {
		if src := p.plugin.workloadAt(h); src != nil && (src.Namespace != p.Pod.Namespace || src.Name != p.Pod.Name) {
			sc := chainsOf(env.NodeStack(src.Spec.NodeName))
			if sc != nil || toService {
				ep := cpolicy.WorkloadEndpoint(src, env.Cluster.Namespace(src.Namespace))
				all = append(all, judged{m.Evaluate(ep, cpolicy.Egress, cpolicy.StageNormal, pkt), sc, true})
			}
		}
	}
	// A Kubernetes NetworkPolicy or a profile deciding this stage's own direction leaves
	// the stage to the shared one, which says it as before.
	handled, allowed = byCalico(v), true
	for _, j := range all {
		step(h, j.v)
		switch {
		case !byCalico(j.v), j.v.Allowed:
		case j.chains == nil:
			h.Record(denied(j.v, fmt.Sprintf(" (decided by Calico's objects alone: no felix chain was collected on %s)", j.v.Endpoint.Node)))
			allowed = false
		case j.passed:
			h.Record(notProgrammed(j.v.Endpoint, "Calico's objects deny %s at %s (%s), but felix's chains on %s let the packet through: felix has not programmed the policy as the objects say; the verdict follows the chains",
				dirWord(j.v.Direction), j.v.Endpoint, decision(j.v), j.v.Endpoint.Node))
		}
	}
	if !allowed {
		h.Stop(plugin.Dropped, "Calico policy denies")
		return true, false
	}
	return handled, true
}

// workloadAt returns the calico pod that sent the packet, if any.
func (p *Plugin) workloadAt(h *plugin.Hop) *corev1.Pod {
	for _, pod := range p.env.Cluster.PodsByIP(h.Packet.Src) {
		if !pod.Spec.HostNetwork {
			return pod
		}
	}
	return nil
}

// Felix's host endpoint chains: to and from the host, and forwarded through it.
var hostEndpointChain = regexp.MustCompile(`^cali-(th|fh|thfw|fhfw)-(.+)$`)

// explainPolicyDrop names what a drop by felix's chain enforces, in Calico's model: the
// deciding policy (CalicoPolicyDenied), or, where the objects allow what the chain drops,
// the disagreement (CalicoPolicyNotProgrammed). It reports false when the model leaves the
// explanation to Kubernetes NetworkPolicy.
func (n *Node) explainPolicyDrop(h *plugin.Hop, o *nf.Outcome, table, chain, dir string) bool {
	m := n.plugin.model
	if m == nil {
		return false
	}
	pkt := cpolicy.PacketOf(h.Packet)
	// A drop in a policy's chain is the endpoint's whose chain jumped there.
	endpointChain := chain
	for _, st := range o.Trace {
		t, c, ok := felixChain(st.Chain)
		if !ok {
			continue
		}
		if t == "" {
			t = st.Table
		}
		if hostEndpointChain.MatchString(c) || strings.HasPrefix(c, "cali-tw-") || strings.HasPrefix(c, "cali-fw-") {
			endpointChain, table = c, t
		}
	}
	if endpointChain != chain {
		_, dir = n.describeChain(endpointChain)
	}
	var v cpolicy.Verdict
	switch hm := hostEndpointChain.FindStringSubmatch(endpointChain); {
	case hm != nil:
		ep := m.HostEndpointFor(n.node.Name, hm[2], netip.Addr{})
		if ep == nil {
			return false
		}
		// "To the endpoint" is what leaves the host by the interface: its egress policy;
		// "from" is what comes in (felix's HostEndpointToFilterChains).
		d, stage := cpolicy.Egress, cpolicy.StageNormal
		if strings.HasPrefix(hm[1], "fh") {
			d = cpolicy.Ingress
		}
		switch {
		case table == "raw":
			stage = cpolicy.StageUntracked
		case table == "mangle":
			stage = cpolicy.StagePreDNAT
		case strings.HasSuffix(hm[1], "fw"):
			stage = cpolicy.StageForward
		}
		v = m.Evaluate(ep, d, stage, pkt)
	case dir != "":
		ip, d := h.Packet.Dst, cpolicy.Ingress
		if dir == "egress" {
			ip, d = h.Packet.Src, cpolicy.Egress
		}
		pod := n.localPod(ip)
		if pod == nil {
			return false
		}
		v = m.Evaluate(cpolicy.WorkloadEndpoint(pod, n.plugin.env.Cluster.Namespace(pod.Namespace)), d, cpolicy.StageNormal, pkt)
	default:
		return false
	}
	step(h, v)
	owner := chainOwner(v, chain)
	switch {
	case byCalico(v) && !v.Allowed:
		h.Record(denied(v, "; felix's chain "+chain+" on "+n.node.Name+owner+" drops it"))
		return true
	case v.Allowed && m.HasCalicoObjects():
		h.Record(notProgrammed(v.Endpoint, "Felix's chain %s on %s%s drops the packet, but Calico's objects allow %s at %s (%s): the chains are stale or felix has not synced; the verdict follows the chains",
			chain, n.node.Name, owner, dirWord(v.Direction), v.Endpoint, decision(v)))
		return true
	}
	return false
}

// chainOwner says which object a policy chain comes from, by felix's names for the
// policies that apply.
func chainOwner(v cpolicy.Verdict, chain string) string {
	if !strings.HasPrefix(chain, cpolicy.ChainPolicyIngress) && !strings.HasPrefix(chain, cpolicy.ChainPolicyEgress) {
		return ""
	}
	for _, id := range v.Applied {
		for _, nft := range []bool{false, true} {
			if id.ChainName(strings.HasPrefix(chain, cpolicy.ChainPolicyIngress), nft) == chain {
				return " (the rules of " + id.Kind() + " " + id.String() + ")"
			}
		}
	}
	return " (named for no policy that applies here)"
}

// hostPolicy is a node's policy stage on delivery to the host: the host endpoint of the
// interface the packet came in by, its doNotTrack, preDNAT and normal policies in turn
// (hop.Extensions.Policy). A host endpoint that no policy and no profile allows denies the
// host's traffic, as felix's chains do.
func (n *Node) hostPolicy(h *plugin.Hop, egress bool) (handled, allowed bool) {
	m := n.plugin.model
	if m == nil || egress || h.Reply != "" {
		return false, false
	}
	ep := m.HostEndpointFor(n.node.Name, h.IIF, h.Packet.Dst)
	if ep == nil {
		return false, false
	}
	chains := chainsOf(h.Stack)
	pkt := cpolicy.PacketOf(h.Packet)
	var v cpolicy.Verdict
	for _, stage := range []cpolicy.Stage{cpolicy.StageUntracked, cpolicy.StagePreDNAT, cpolicy.StageNormal} {
		v = m.Evaluate(ep, cpolicy.Ingress, stage, pkt)
		if stage == cpolicy.StageNormal {
			checkProgrammed(h, v, chains)
		}
		if !v.Allowed {
			break
		}
	}
	step(h, v)
	switch {
	case v.Allowed:
	case chains == nil:
		h.Record(denied(v, fmt.Sprintf(" (decided by Calico's objects alone: no felix chain was collected on %s)", n.node.Name)))
		h.Stop(plugin.Dropped, "Calico host endpoint policy denies")
		return true, false
	default:
		h.Record(notProgrammed(ep, "Calico's objects deny ingress at %s (%s), but felix's chains on %s let the packet through: felix has not programmed the host endpoint as the objects say; the verdict follows the chains",
			ep, decision(v), n.node.Name))
	}
	return true, true
}
