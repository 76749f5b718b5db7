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
	env := h.Env
	if env.Policy == nil {
		return
	}
	src, err := policy.PeerFor(env.Cluster, hop.PeerEndpoint(env, h.Packet.Src))
	if err != nil {
		return
	}
	dst, err := policy.PeerFor(env.Cluster, hop.PeerEndpoint(env, h.Packet.Dst))
	if err != nil {
		return
	}
	d := env.Policy.Evaluate(src, dst, h.Packet.Protocol, h.Packet.DstPort)
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
