package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/netdiag/netdiag/internal/model"
)

// AdminTier is a tier of cluster-wide policy: Admin before NetworkPolicy, Baseline after.
type AdminTier string

const (
	TierAdmin    AdminTier = "Admin"
	TierBaseline AdminTier = "Baseline"
)

func (t AdminTier) order() int {
	if t == TierAdmin {
		return 0
	}
	return 1
}

// AdminAction is what a matching cluster-wide rule does. ClusterNetworkPolicy's Accept is
// Allow here.
type AdminAction string

const (
	ActionAllow AdminAction = "Allow"
	ActionDeny  AdminAction = "Deny"
	ActionPass  AdminAction = "Pass"
)

// AdminRef names a cluster-wide policy: its kind (AdminNetworkPolicy,
// BaselineAdminNetworkPolicy, ClusterNetworkPolicy), name, tier and priority.
type AdminRef struct {
	Kind     string
	Name     string
	Tier     AdminTier
	Priority int32
}

func (r AdminRef) String() string {
	if r.Kind == "BaselineAdminNetworkPolicy" {
		return r.Kind + " " + r.Name
	}
	return fmt.Sprintf("%s %s (%s tier, priority %d)", r.Kind, r.Name, strings.ToLower(string(r.Tier)), r.Priority)
}

// AdminMatch is the cluster-wide rule that matched first in its tier.
type AdminMatch struct {
	Policy AdminRef
	// Rule is the rule's index in the policy's ingress or egress list; RuleName its name.
	Rule     int
	RuleName string
	Action   AdminAction
}

func (m AdminMatch) describe(dir Direction) string {
	s := fmt.Sprintf("%s, %s rule %d", m.Policy, strings.ToLower(string(dir)), m.Rule)
	if m.RuleName != "" {
		s += fmt.Sprintf(" %q", m.RuleName)
	}
	return s
}

// Tier names who decided a direction: the admin tier, NetworkPolicy, the baseline tier, or
// no one (nothing selects the pod: allowed).
type Tier string

const (
	DecidedByNone          Tier = ""
	DecidedByAdmin         Tier = "Admin"
	DecidedByNetworkPolicy Tier = "NetworkPolicy"
	DecidedByBaseline      Tier = "Baseline"
)

// AdminVerdict is the cluster-wide tiers' part of a direction's verdict.
type AdminVerdict struct {
	// Evaluated is true when the cluster-wide policies were evaluated for the direction.
	Evaluated bool
	// Admin is the admin tier's first matching rule (Allow, Deny or Pass), nil when none.
	Admin *AdminMatch
	// Baseline is the baseline tier's first matching rule, when the decision reached it.
	Baseline *AdminMatch
	// DecidedBy is the tier whose answer is Verdict.Allowed.
	DecidedBy Tier
	// Unsure, when the direction is denied, says why the denial may be wrong: an admin rule
	// before the deciding one allows domain names, which the snapshot cannot match to the
	// address, and would have allowed the packet if the address is one of them.
	Unsure string
}

// adminTiers is an evaluator's compiled cluster-wide policies, built on first use.
type adminTiers struct {
	once            sync.Once
	admin, baseline []*compiledAdmin
}

// adminPolicies returns the admin tier's policies and the baseline tier's, each in order.
func (e *Evaluator) adminPolicies() (admin, baseline []*compiledAdmin) {
	e.admin.once.Do(func() {
		for _, c := range compileAdminPolicies(&e.snap.Admin) {
			if c.ref.Tier == TierAdmin {
				e.admin.admin = append(e.admin.admin, c)
			} else {
				e.admin.baseline = append(e.admin.baseline, c)
			}
		}
	})
	return e.admin.admin, e.admin.baseline
}

// EvaluateNetworkPolicyOnly decides the packet by NetworkPolicy alone, leaving out the
// cluster-wide tiers: what a network plugin that does not enforce them does.
func (e *Evaluator) EvaluateNetworkPolicyOnly(src, dst Peer, proto model.Protocol, port uint16) Decision {
	return e.evaluate(src, dst, proto, port, false)
}

// applyTiers puts NetworkPolicy's verdict for the direction in its place between the tiers,
// as the network-policy-api specifies: the admin tier's policies by priority, the first
// matching rule deciding (Allow and Deny are final, Pass goes on to NetworkPolicy); then
// NetworkPolicy, which decides when it isolates the pod; then the baseline tier, whose first
// matching rule decides; then allowed.
func (e *Evaluator) applyTiers(v *Verdict, self, other *endpoint, proto model.Protocol, port uint16, ev *evaluation) {
	adminTier, baselineTier := e.adminPolicies()
	if len(adminTier)+len(baselineTier) == 0 || self.pod == nil {
		return
	}
	v.Tiers.Evaluated = true
	dstPod := self.pod
	if v.Direction == Egress {
		dstPod = other.pod
	}
	admin, unsure := firstMatch(adminTier, v.Direction, self, other, proto, port, dstPod, ev)
	v.Tiers.Admin = admin
	defer func() {
		if !v.Allowed {
			v.Tiers.Unsure = unsure
		}
	}()
	if admin != nil && admin.Action != ActionPass {
		v.Tiers.DecidedBy = DecidedByAdmin
		v.Allowed = admin.Action == ActionAllow
		return
	}
	if v.Isolated {
		v.Tiers.DecidedBy = DecidedByNetworkPolicy
		return
	}
	base, _ := firstMatch(baselineTier, v.Direction, self, other, proto, port, dstPod, ev)
	v.Tiers.Baseline = base
	if base != nil && base.Action != ActionPass {
		v.Tiers.DecidedBy = DecidedByBaseline
		v.Allowed = base.Action == ActionAllow
	}
}

// firstMatch returns the first rule of a tier's policies that matches, policy by policy in priority
// order and rule by rule in the order written. Two policies of one priority that match with
// different actions leave the answer to the implementation, which a note says. unsure names
// a rule of domain names met before the first match, which might have matched instead.
func firstMatch(policies []*compiledAdmin, dir Direction, self, other *endpoint, proto model.Protocol, port uint16, dstPod podRef, ev *evaluation) (found *AdminMatch, unsure string) {
	for _, c := range policies {
		if found != nil && c.ref.Priority != found.Policy.Priority {
			break
		}
		for _, p := range c.problems {
			ev.note(p)
		}
		if !c.selects(self) {
			continue
		}
		rules := c.ingress
		if dir == Egress {
			rules = c.egress
		}
		for i := range rules {
			if !rules[i].matches(other, proto, port, dstPod, ev) {
				if found == nil && unsure == "" && rules[i].domains && rules[i].matchesPort(proto, port, dstPod) {
					m := AdminMatch{Policy: c.ref, Rule: i, RuleName: rules[i].name, Action: rules[i].action}
					unsure = m.describe(dir) + " allows domain names, which the snapshot cannot match to " + other.ip.String()
				}
				continue
			}
			m := &AdminMatch{Policy: c.ref, Rule: i, RuleName: rules[i].name, Action: rules[i].action}
			if found == nil {
				found = m
			} else if found.Action != m.Action {
				ev.note(fmt.Sprintf("%s and %s have the same priority and both match (%s, %s): the API leaves to the network plugin which one applies; %s was taken",
					found.Policy, m.Policy, found.Action, m.Action, found.Policy))
			}
			break
		}
	}
	return found, unsure
}

// podRef is the destination pod whose container ports resolve named ports, or nil.
type podRef = *corev1.Pod

func (c *compiledAdmin) selects(e *endpoint) bool {
	if c.subjectNS == nil || e.pod == nil || !c.subjectNS.Matches(e.nsLabels()) {
		return false
	}
	return c.subjectPods == nil || c.subjectPods.Matches(labels.Set(e.pod.Labels))
}

func (r *compiledAdminRule) matches(peer *endpoint, proto model.Protocol, port uint16, dst podRef, ev *evaluation) bool {
	return r.matchesPort(proto, port, dst) && r.matchesPeer(peer, ev)
}

func (r *compiledAdminRule) matchesPort(proto model.Protocol, port uint16, dst podRef) bool {
	if r.anyPort {
		return true
	}
	return slices.ContainsFunc(r.ports, func(p adminPort) bool {
		if p.named != "" {
			// A named port names the destination pod's container port, whatever its protocol.
			cp, ok := namedPort(dst, p.named, proto)
			return ok && cp == port
		}
		return p.port.matches(proto, port, dst)
	})
}

func (r *compiledAdminRule) matchesPeer(peer *endpoint, ev *evaluation) bool {
	for i := range r.peers {
		if r.peers[i].matches(peer, r.action, ev) {
			return true
		}
	}
	return false
}

func (p *compiledAdminPeer) matches(e *endpoint, action AdminAction, ev *evaluation) bool {
	switch p.kind {
	case adminPeerUnknown:
		return action != ActionAllow
	case adminPeerNamespaces:
		return e.pod != nil && p.namespaces.Matches(e.nsLabels())
	case adminPeerPods:
		return e.pod != nil && p.namespaces.Matches(e.nsLabels()) && p.pods.Matches(labels.Set(e.pod.Labels))
	case adminPeerNodes:
		if e.node == "" {
			return false
		}
		n := e.e.snap.Node(e.node)
		if n == nil {
			ev.note(fmt.Sprintf("Node %s is not in the snapshot; a nodes peer cannot match it by its labels", e.node))
			return false
		}
		return p.nodes.Matches(labels.Set(n.Labels))
	case adminPeerNetworks:
		return e.ip.IsValid() && slices.ContainsFunc(p.networks, func(n netip.Prefix) bool { return n.Contains(e.ip) })
	case adminPeerDomains:
		ev.note(fmt.Sprintf("A rule allows the domain names %s, which the snapshot cannot tell from address %s; the rule was taken not to match", strings.Join(p.domains, ", "), e.ip))
	}
	return false
}

// explainTiers says why the direction allows or denies when a cluster-wide tier decided or
// was passed through; ok is false when NetworkPolicy's own sentence says it all.
func (v Verdict) explainTiers() (string, bool) {
	t := v.Tiers
	if !t.Evaluated {
		return "", false
	}
	dir := strings.ToLower(string(v.Direction))
	verb := func(a AdminAction) string {
		if a == ActionAllow {
			return "allowed"
		}
		return "denied"
	}
	switch t.DecidedBy {
	case DecidedByAdmin:
		return fmt.Sprintf("%s: %s by %s", dir, verb(t.Admin.Action), t.Admin.describe(v.Direction)), true
	case DecidedByBaseline:
		admin := "no admin-tier rule matches"
		if t.Admin != nil {
			admin = "passed by " + t.Admin.describe(v.Direction)
		}
		return fmt.Sprintf("%s: %s and no NetworkPolicy isolates the pod; %s by %s", dir, admin, verb(t.Baseline.Action), t.Baseline.describe(v.Direction)), true
	}
	if t.Admin == nil {
		return "", false
	}
	// Passed by the admin tier: NetworkPolicy (or nothing) decides.
	v.Tiers = AdminVerdict{}
	return fmt.Sprintf("passed to NetworkPolicy by %s; %s", t.Admin.describe(v.Direction), v.Explain()), true
}
