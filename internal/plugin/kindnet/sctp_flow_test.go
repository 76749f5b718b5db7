package kindnet_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
)

// SCTP is followed as TCP and UDP are: routes, the netfilter rules that match it, and
// NetworkPolicy ports of its protocol.
func TestFlowsKindnetSCTP(t *testing.T) {
	sctp := model.SCTP
	allowOnly := func(proto corev1.Protocol) func(c *fixture.Cluster) {
		return func(c *fixture.Cluster) {
			c.Snapshot.NetworkPolicies = append(c.Snapshot.NetworkPolicies, networkingv1.NetworkPolicy{
				ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db-" + string(proto)},
				Spec: networkingv1.NetworkPolicySpec{
					PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
					Ingress:     []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &proto, Port: new(intstr.FromInt32(5432))}}}},
				},
			})
		}
	}
	for name, f := range map[string]flow{
		"SCTP from pod to pod across nodes": {
			Src: "pod:default/client", Dst: "pod:default/db", Proto: sctp, Port: 5432,
			Want: diagnose.Reachable, Via: []string{"node/node-0", "node/node-1", "pod/default/db"},
		},
		"an iptables rule drops SCTP to the port": {
			Src: "pod:default/client", Dst: "pod:default/db", Proto: sctp, Port: 5432,
			Fault: func(c *fixture.Cluster) {
				fixture.InsertRule(host(c, "node-1"), "filter", "FORWARD -d 10.244.1.11/32 -p sctp -m sctp --dport 5432 -j DROP")
			},
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonIPTablesDrop},
		},
		"an iptables rule that drops TCP to the port lets SCTP through": {
			Src: "pod:default/client", Dst: "pod:default/db", Proto: sctp, Port: 5432,
			Fault: func(c *fixture.Cluster) {
				fixture.InsertRule(host(c, "node-1"), "filter", "FORWARD -d 10.244.1.11/32 -p tcp -m tcp --dport 5432 -j DROP")
			},
			Want: diagnose.Reachable,
		},
		"a NetworkPolicy that allows TCP only denies SCTP": {
			Src: "pod:default/client", Dst: "pod:default/db", Proto: sctp, Port: 5432,
			Fault: allowOnly(corev1.ProtocolTCP),
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonNetworkPolicyDenied},
		},
		"a NetworkPolicy that allows SCTP on the port": {
			Src: "pod:default/client", Dst: "pod:default/db", Proto: sctp, Port: 5432,
			Fault: allowOnly(corev1.ProtocolSCTP),
			Want:  diagnose.Reachable,
		},
	} {
		t.Run(name, func(t *testing.T) { runFlow(t, f) })
	}
}
