package calico

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdiag/netdiag/internal/policy/calico/crd"
)

// FromKubernetes is a Kubernetes NetworkPolicy as Calico converts it (libcalico-go's
// K8sNetworkPolicyToCalico): named knp.default.<name>, order 1000 in the default tier,
// selecting Kubernetes pods only, one Calico rule per protocol and peer of each Kubernetes
// rule (protocols in alphabetical order, ports of a protocol together), so that rule
// indexes are the ones felix and the flow logs use.
func FromKubernetes(np *networkingv1.NetworkPolicy) *crd.Policy {
	order := float64(KNPOrder)
	p := &crd.Policy{Kind: crd.KindNetworkPolicy, ObjectMeta: metav1.ObjectMeta{Name: KNPPrefix + np.Name, Namespace: np.Namespace}}
	p.Spec = crd.PolicySpec{Tier: TierDefault, Order: &order, Selector: k8sSelector(&np.Spec.PodSelector, true)}
	for _, r := range np.Spec.Ingress {
		p.Spec.Ingress = append(p.Spec.Ingress, k8sRules(r.From, r.Ports, true)...)
	}
	for _, r := range np.Spec.Egress {
		p.Spec.Egress = append(p.Spec.Egress, k8sRules(r.To, r.Ports, false)...)
	}
	for _, t := range np.Spec.PolicyTypes {
		p.Spec.Types = append(p.Spec.Types, string(t))
	}
	if len(p.Spec.Types) == 0 {
		p.Spec.Types = []string{string(networkingv1.PolicyTypeIngress)}
	}
	return p
}

// k8sSelector writes a label selector in Calico's language; a pod selector also requires
// the Kubernetes orchestrator, and an empty namespace selector is all().
func k8sSelector(s *metav1.LabelSelector, pods bool) string {
	var parts []string
	if pods {
		parts = append(parts, LabelOrchestrator+" == '"+OrchestratorK8s+"'")
	}
	if s == nil {
		return strings.Join(parts, " && ")
	}
	if !pods && len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0 {
		return "all()"
	}
	for _, k := range slices.Sorted(maps.Keys(s.MatchLabels)) {
		parts = append(parts, fmt.Sprintf("%s == '%s'", k, s.MatchLabels[k]))
	}
	for _, e := range s.MatchExpressions {
		values := "'" + strings.Join(e.Values, "', '") + "'"
		switch e.Operator {
		case metav1.LabelSelectorOpIn:
			parts = append(parts, fmt.Sprintf("%s in { %s }", e.Key, values))
		case metav1.LabelSelectorOpNotIn:
			parts = append(parts, fmt.Sprintf("%s not in { %s }", e.Key, values))
		case metav1.LabelSelectorOpExists:
			parts = append(parts, "has("+e.Key+")")
		case metav1.LabelSelectorOpDoesNotExist:
			parts = append(parts, "!has("+e.Key+")")
		}
	}
	return strings.Join(parts, " && ")
}

func k8sRules(peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort, ingress bool) []crd.Rule {
	// Ports by protocol; nil ports for a protocol means every port of it, and a rule with no
	// ports at all has no protocol ("").
	byProto := map[string][]intstr.IntOrString{}
	if len(ports) == 0 {
		byProto[""] = nil
	}
	for _, p := range ports {
		proto := string(corev1.ProtocolTCP)
		if p.Protocol != nil {
			proto = string(*p.Protocol)
		}
		existing, seen := byProto[proto]
		switch {
		case p.Port == nil:
			byProto[proto] = nil
		case !seen || len(existing) > 0:
			port := intstr.FromString(p.Port.String())
			if p.EndPort != nil {
				port = intstr.FromString(fmt.Sprintf("%s:%d", p.Port.String(), *p.EndPort))
			}
			byProto[proto] = append(existing, port)
		}
	}
	if len(peers) == 0 {
		peers = []networkingv1.NetworkPolicyPeer{{}}
	}
	var out []crd.Rule
	for _, proto := range slices.Sorted(maps.Keys(byProto)) {
		for _, peer := range peers {
			r := crd.Rule{Action: string(Allow)}
			if proto != "" {
				v := intstr.FromString(proto)
				r.Protocol = &v
			}
			e := peerEntity(peer)
			if ingress {
				r.Source, r.Destination = e, crd.EntityRule{Ports: byProto[proto]}
			} else {
				e.Ports = byProto[proto]
				r.Destination = e
			}
			out = append(out, r)
		}
	}
	return out
}

// peerEntity converts one peer; the empty peer (a rule without from/to) matches anything.
func peerEntity(p networkingv1.NetworkPolicyPeer) crd.EntityRule {
	if p.IPBlock != nil {
		return crd.EntityRule{Nets: []string{p.IPBlock.CIDR}, NotNets: p.IPBlock.Except}
	}
	if p.PodSelector == nil && p.NamespaceSelector == nil {
		return crd.EntityRule{}
	}
	e := crd.EntityRule{Selector: k8sSelector(p.PodSelector, true)}
	if p.NamespaceSelector != nil {
		e.NamespaceSelector = k8sSelector(p.NamespaceSelector, false)
	}
	return e
}
