package policy

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
)

// BenchmarkEvaluateAdminTiers is BenchmarkEvaluate's cluster with 100 AdminNetworkPolicies of
// 10 rules each, by team, and a baseline that denies what no NetworkPolicy isolates: every
// question walks the admin tier's policies that select its pods before NetworkPolicy.
func BenchmarkEvaluateAdminTiers(b *testing.B) {
	snap := largeCluster(1000, 10, 10)
	for i := range 100 {
		anp := cluster.AdminNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("anp-%03d", i)},
			Spec: cluster.AdminNetworkPolicySpec{Priority: int32(i), Subject: cluster.AdminSubject{Namespaces: &metav1.LabelSelector{MatchLabels: map[string]string{"team": fmt.Sprintf("t%d", i%10)}}}}}
		for r := range 10 {
			port := int32(9000 + r)
			rule := cluster.AdminIngressRule{Name: fmt.Sprintf("r%d", r), Action: []string{"Pass", "Deny", "Allow"}[r%3],
				From:  []cluster.AdminPeer{{Namespaces: &cluster.AdminNamespaces{LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{"team": fmt.Sprintf("t%d", r)}}}}},
				Ports: &[]cluster.AdminPort{{PortNumber: &cluster.AdminPortNumber{Protocol: "TCP", Port: port}}}}
			anp.Spec.Ingress = append(anp.Spec.Ingress, rule)
			anp.Spec.Egress = append(anp.Spec.Egress, cluster.AdminEgressRule{Name: rule.Name, Action: rule.Action, To: rule.From, Ports: rule.Ports})
		}
		snap.Admin.AdminNetworkPolicies = append(snap.Admin.AdminNetworkPolicies, anp)
	}
	snap.Admin.BaselineAdminNetworkPolicies = []cluster.BaselineAdminNetworkPolicy{{ObjectMeta: metav1.ObjectMeta{Name: "default"},
		Spec: cluster.BaselineAdminNetworkPolicySpec{Subject: cluster.AdminSubject{Namespaces: &metav1.LabelSelector{}},
			Ingress: []cluster.AdminIngressRule{{Action: "Deny", From: []cluster.AdminPeer{{Namespaces: &cluster.AdminNamespaces{}}}}}}}}
	var pairs [][2]Peer
	for i := range 64 {
		pairs = append(pairs, [2]Peer{PodPeer(&snap.Pods[(i*7919)%len(snap.Pods)]), PodPeer(&snap.Pods[(i*104729+3)%len(snap.Pods)])})
	}
	ev := NewEvaluator(snap)
	decided := 0
	for i, p := range pairs {
		if d := ev.Evaluate(p[0], p[1], model.TCP, 9000+uint16(i%10)); d.Ingress.Tiers.DecidedBy == DecidedByAdmin {
			decided++
		}
	}
	if decided == 0 || decided == len(pairs) {
		b.Fatalf("%d of %d pairs decided by the admin tier, want a mix", decided, len(pairs))
	}
	b.Run("evaluator reused", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p := pairs[i%len(pairs)]
			ev.Evaluate(p[0], p[1], model.TCP, 9000+uint16(i%10))
			i++
		}
	})
}
