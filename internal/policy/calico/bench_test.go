package calico

import (
	"fmt"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/policy/calico/crd"
)

// bigCluster has 1,000 namespaces of 10 pods, 10 Calico NetworkPolicies per namespace
// (10,000), 10 tiers of 20 GlobalNetworkPolicies each, and 100 global network sets.
func bigCluster() *cluster.Snapshot {
	s := &cluster.Snapshot{}
	one := 1.0
	for t := range 10 {
		order := float64(t * 10)
		s.Calico.Tiers = append(s.Calico.Tiers, crd.Tier{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t%d", t)}, Spec: crd.TierSpec{Order: &order}})
		for g := range 20 {
			s.Calico.GlobalNetworkPolicies = append(s.Calico.GlobalNetworkPolicies, crd.Policy{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t%d.g%d", t, g)},
				Spec: crd.PolicySpec{Selector: fmt.Sprintf("team == 't%d' || has(x%d)", g, g), Order: &one,
					Ingress: []crd.Rule{{Action: "Deny", Source: crd.EntityRule{Selector: "feed == 'bad'"}}, {Action: "Pass"}}}})
		}
	}
	for n := range 100 {
		s.Calico.GlobalNetworkSets = append(s.Calico.GlobalNetworkSets, crd.NetworkSet{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("set%d", n), Labels: map[string]string{"feed": "bad"}},
			Spec:       crd.NetworkSetSpec{Nets: []string{fmt.Sprintf("192.%d.0.0/16", n)}}})
	}
	for n := range 1000 {
		ns := fmt.Sprintf("ns%d", n)
		s.Namespaces = append(s.Namespaces, corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"team": fmt.Sprintf("t%d", n%20)}}})
		for p := range 10 {
			ip := fmt.Sprintf("10.%d.%d.%d", n/250, n%250, p+1)
			s.Pods = append(s.Pods, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("p%d", p), Labels: map[string]string{"app": fmt.Sprintf("a%d", p)}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}})
		}
		for k := range 10 {
			s.Calico.NetworkPolicies = append(s.Calico.NetworkPolicies, crd.Policy{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("default.np%d", k)},
				Spec: crd.PolicySpec{Selector: fmt.Sprintf("app == 'a%d'", k),
					Ingress: []crd.Rule{{Action: "Allow", Protocol: nil, Source: crd.EntityRule{Selector: "app in {'a1', 'a2'}", NamespaceSelector: "team == 't1'"}}}}})
		}
	}
	return s
}

func BenchmarkEvaluate(b *testing.B) {
	snap := bigCluster()
	pkt := PacketOf(model.Packet{Src: netip.MustParseAddr("10.0.1.2"), Dst: netip.MustParseAddr("10.0.5.4"), Protocol: model.TCP, SrcPort: 4000, DstPort: 80})
	dst := snap.Pod("ns5", "p3")
	b.Run("first question on a new model", func(b *testing.B) {
		for b.Loop() {
			m := New(snap)
			m.Evaluate(WorkloadEndpoint(dst, snap.Namespace("ns5")), Ingress, StageNormal, pkt)
		}
	})
	b.Run("a further question", func(b *testing.B) {
		m := New(snap)
		ep := WorkloadEndpoint(dst, snap.Namespace("ns5"))
		if v := m.Evaluate(ep, Ingress, StageNormal, pkt); v.Decided.Action == "" {
			b.Fatal("no decision")
		}
		for b.Loop() {
			m.Evaluate(ep, Ingress, StageNormal, pkt)
		}
	})
}
