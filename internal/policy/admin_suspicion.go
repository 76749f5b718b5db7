package policy

import (
	"fmt"
	"strings"

	"github.com/netdiag/netdiag/internal/model"
)

// Source names what decided the direction, as a step's detail starts: NetworkPolicy, or the
// kind of the cluster-wide policy whose rule decided.
func (v Verdict) Source() string {
	switch v.Tiers.DecidedBy {
	case DecidedByAdmin:
		return v.Tiers.Admin.Policy.Kind
	case DecidedByBaseline:
		return v.Tiers.Baseline.Policy.Kind
	}
	return "NetworkPolicy"
}

// adminSuspicion is the finding of a direction that a cluster-wide rule denied: the rule is
// the policy and rule that decided.
func adminSuspicion(d Decision, v Verdict, src, dst, self Peer) (model.Suspicion, bool) {
	var (
		m      *AdminMatch
		reason model.Reason
		why    string
	)
	switch v.Tiers.DecidedBy {
	case DecidedByAdmin:
		m, reason = v.Tiers.Admin, model.ReasonAdminNetworkPolicyDenied
		why = "the admin tier decides before NetworkPolicy"
	case DecidedByBaseline:
		m, reason = v.Tiers.Baseline, model.ReasonBaselineAdminNetworkPolicyDenied
		why = "no admin-tier rule and no NetworkPolicy decides, so the baseline tier does"
	default:
		return model.Suspicion{}, false
	}
	s := model.Suspicion{Level: model.Critical, Reason: reason, Rule: m.describe(v.Direction)}
	if self.Pod != nil {
		s.Pod = self.Pod.Namespace + "/" + self.Pod.Name
		s.Node = self.Pod.Spec.NodeName
	}
	what := fmt.Sprintf("egress from %s to %s (%s)", src, dst, traffic(d))
	if v.Direction == Ingress {
		what = fmt.Sprintf("ingress to %s from %s (%s)", dst, src, traffic(d))
	}
	s.Message = fmt.Sprintf("%s denies %s: %s selects the pod and its %s rule %d%s is the first that matches (%s); change that rule or allow the traffic before it",
		m.Policy.Kind, what, m.Policy, strings.ToLower(string(v.Direction)), m.Rule, ruleName(m), why)
	if v.Tiers.Unsure != "" {
		// Whether the earlier rule matches is not known, so neither is the denial.
		s.Level = model.Warning
		s.Message += "; unless " + v.Tiers.Unsure + " and the address is one of them"
	}
	return s, true
}

func ruleName(m *AdminMatch) string {
	if m.RuleName == "" {
		return ""
	}
	return fmt.Sprintf(" %q", m.RuleName)
}

// AdminNotEnforced is the Info a diagnosis carries when the cluster has cluster-wide policies
// and the network plugin is not known to enforce them.
func AdminNotEnforced() model.Suspicion {
	return model.Suspicion{Level: model.Info, Reason: model.ReasonAdminNetworkPolicyNotEnforced,
		Message: "The cluster has AdminNetworkPolicy, BaselineAdminNetworkPolicy or ClusterNetworkPolicy objects, but the network plugin is not known to enforce them; packets were judged by NetworkPolicy alone"}
}
