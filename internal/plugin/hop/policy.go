package hop

import (
	"net/netip"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/policy"
)

// policy applies NetworkPolicy as the packet stands here: egress when the pod sends it,
// ingress when it arrives (after NAT, so a masqueraded source is seen as its node, as the
// data plane sees it). It reports false when the policy stops the packet.
func (p *Pipeline) policy(h *Hop, egress bool) bool {
	admin := h.Env.Cluster.Admin.Any()
	if h.Env.Policy == nil || (!h.Env.Cluster.HasNetworkPolicies() && !admin) {
		return true
	}
	// The source pod's egress to a service is decided on the translated packet, so it is
	// evaluated where the packet arrives, with the ingress.
	toService := h.Env.Question.Destination.Type == model.EndpointService
	if egress && toService {
		return true
	}
	src, err := policy.PeerFor(h.Env.Cluster, PeerEndpoint(h.Env, h.Packet.Src))
	if err != nil {
		return true
	}
	dst, err := policy.PeerFor(h.Env.Cluster, PeerEndpoint(h.Env, h.Packet.Dst))
	if err != nil {
		// A service address: policy applies to its backends once translated.
		return true
	}
	d := h.Env.Policy.Evaluate(src, dst, h.Packet.Protocol, h.Packet.DstPort)
	if admin && !(h.Env.EnforcesAdminPolicy && h.Env.EnforcesPolicy) {
		d = h.Env.Policy.EvaluateNetworkPolicyOnly(src, dst, h.Packet.Protocol, h.Packet.DstPort)
		h.Env.note(policy.AdminNotEnforced())
	}
	// Each end decides its own direction where the packet is.
	switch {
	case egress:
		d.Ingress = policy.Verdict{Direction: policy.Ingress, Allowed: true}
	case !toService || h.Env.Question.Source.Type != model.EndpointPod:
		d.Egress = policy.Verdict{Direction: policy.Egress, Allowed: true}
	}
	d.Allowed = d.Egress.Allowed && d.Ingress.Allowed
	h.res.Steps = append(h.res.Steps, policy.Steps(d, p.NetNode.ID, p.NetNode.ID, h.Packet)...)
	for _, s := range policy.Suspicions(d, src, dst, h.Env.EnforcesPolicy) {
		h.Suspect(s)
	}
	if d.Allowed || !h.Env.EnforcesPolicy {
		return true
	}
	dir, v := "ingress", d.Ingress
	if egress {
		dir, v = "egress", d.Egress
	}
	if v.Tiers.Unsure != "" {
		h.Suspectf(model.Info, model.ReasonRuleNotUnderstood, "", "", "Whether %s denies %s is not known: %s", v.Source(), dir, v.Tiers.Unsure)
		h.end(Undecided, "an AdminNetworkPolicy rule of domain names may allow "+dir)
		return false
	}
	h.end(Dropped, v.Source()+" denies "+dir)
	return false
}

// PeerEndpoint is the endpoint that holds ip, for policy: the IPCache's, else an address
// outside the cluster.
func PeerEndpoint(env *Env, ip netip.Addr) model.Endpoint {
	if ep, ok := env.Cluster.IPCache().Lookup(ip); ok {
		ep.IP = ip
		return ep
	}
	return model.Endpoint{Type: model.EndpointExternal, IP: ip}
}
