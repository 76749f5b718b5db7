package policy

import (
	"fmt"
	"strings"

	"github.com/netdiag/netdiag/internal/model"
)

// Suspicions turns a decision into findings. When the network plugin enforces NetworkPolicy,
// each denying direction is a Critical NetworkPolicyDenied naming the policies that isolate
// the pod; when it does not (flannel alone), the same directions are an Info
// NetworkPolicyNotEnforced that says which policies would have denied. An allowed packet
// yields none.
func Suspicions(d Decision, src, dst Peer, enforced bool) []model.Suspicion {
	var out []model.Suspicion
	for _, v := range d.Denied() {
		self, other := src, dst
		if v.Direction == Ingress {
			self, other = dst, src
		}
		if s, ok := adminSuspicion(d, v, src, dst, self); ok {
			out = append(out, s)
			continue
		}
		s := model.Suspicion{
			Level:  model.Critical,
			Reason: model.ReasonNetworkPolicyDenied,
			Rule:   joinRefs(v.IsolatedBy),
		}
		if self.Pod != nil {
			s.Pod = self.Pod.Namespace + "/" + self.Pod.Name
			s.Node = self.Pod.Spec.NodeName
		}
		what := fmt.Sprintf("%s from %s to %s (%s)", strings.ToLower(string(v.Direction)), src, dst, traffic(d))
		if v.Direction == Ingress {
			what = fmt.Sprintf("ingress to %s from %s (%s)", dst, other, traffic(d))
		}
		dir := strings.ToLower(string(v.Direction))
		if enforced {
			s.Message = fmt.Sprintf("NetworkPolicy denies %s: the pod is isolated for %s by %s and no rule there allows this traffic; add an %s rule that allows it",
				what, dir, joinRefs(v.IsolatedBy), dir)
		} else {
			s.Level = model.Info
			s.Reason = model.ReasonPolicyNotEnforced
			s.Message = fmt.Sprintf("NetworkPolicy %s would deny %s, but the network plugin does not enforce NetworkPolicy, so nothing filters it there",
				joinRefs(v.IsolatedBy), what)
		}
		out = append(out, s)
	}
	return out
}

func traffic(d Decision) string {
	if d.Protocol == model.ICMP || d.Port == 0 {
		return string(d.Protocol)
	}
	return fmt.Sprintf("%s/%d", d.Protocol, d.Port)
}

// Steps explains the decision as path steps: egress at the source's NetNode, ingress at the
// destination's.
func Steps(d Decision, srcNodeID, dstNodeID string, pkt model.Packet) []model.Step {
	step := func(id string, v Verdict) model.Step {
		action := "accept"
		if !v.Allowed {
			action = "drop"
		}
		return model.Step{NodeID: id, Component: "policy", Action: action, Detail: v.Source() + " " + v.Explain(), Packet: pkt}
	}
	var out []model.Step
	if d.Egress.Applies {
		out = append(out, step(srcNodeID, d.Egress))
	}
	if d.Ingress.Applies {
		out = append(out, step(dstNodeID, d.Ingress))
	}
	return out
}
