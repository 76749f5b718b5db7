package plugin

import (
	"github.com/netdiag/netdiag/internal/plugin/hop"
	"github.com/netdiag/netdiag/internal/policy"
)

// RecordPolicyDenials evaluates the NetworkPolicies for the packet at h in one direction
// ("ingress" or "egress") and records the suspicions of those that deny it, so that a drop
// by the chains a policy controller (component) programs names the policies it enforces.
// When none denies, a step says so, and where else the drop may come from (elsewhere).
func RecordPolicyDenials(h *Hop, component, dir, elsewhere string) {
	d, src, dst, ok := evaluatePolicy(h)
	if !ok {
		return
	}
	if dir == "ingress" {
		d.Egress = policy.Verdict{Direction: policy.Egress, Allowed: true}
	} else {
		d.Ingress = policy.Verdict{Direction: policy.Ingress, Allowed: true}
	}
	sus := policy.Suspicions(d, src, dst, true)
	if len(sus) == 0 {
		h.Step(component, "policy", "no Kubernetes NetworkPolicy denies this "+dir+": the drop comes from "+elsewhere)
	}
	for _, s := range sus {
		h.Record(s)
	}
}

// AdminPolicyDecides reports whether an AdminNetworkPolicy rule (Allow or Deny, not Pass)
// decides the packet at h in its direction. Calico orders its adminnetworkpolicy tier
// before the default one, so such a rule overrules that tier's policies.
func AdminPolicyDecides(h *Hop, egress bool) bool {
	if !h.Env.Cluster.Admin.Any() {
		return false
	}
	d, _, _, ok := evaluatePolicy(h)
	if !ok {
		return false
	}
	v := d.Ingress
	if egress {
		v = d.Egress
	}
	return v.Tiers.DecidedBy == policy.DecidedByAdmin
}

// evaluatePolicy evaluates the policies of every tier for the packet at h; false when there
// is no evaluator or an end is no peer policy can name.
func evaluatePolicy(h *Hop) (d policy.Decision, src, dst policy.Peer, ok bool) {
	env := h.Env
	if env.Policy == nil {
		return d, src, dst, false
	}
	var err error
	if src, err = policy.PeerFor(env.Cluster, hop.PeerEndpoint(env, h.Packet.Src)); err != nil {
		return d, src, dst, false
	}
	if dst, err = policy.PeerFor(env.Cluster, hop.PeerEndpoint(env, h.Packet.Dst)); err != nil {
		return d, src, dst, false
	}
	return env.Policy.Evaluate(src, dst, h.Packet.Protocol, h.Packet.DstPort), src, dst, true
}
