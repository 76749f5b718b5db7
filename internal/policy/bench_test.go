package policy

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
)

// largeCluster builds namespaces x policiesPerNS policies, podsPerNS pods each: every
// namespace has a default deny, and policies that allow from other namespaces by label, by
// named port and by ipBlock, so that an evaluation walks selectors of every kind.
func largeCluster(namespaces, policiesPerNS, podsPerNS int) *cluster.Snapshot {
	snap := &cluster.Snapshot{}
	tcp := corev1.ProtocolTCP
	for i := range namespaces {
		ns := fmt.Sprintf("ns-%04d", i)
		snap.Namespaces = append(snap.Namespaces, makeNamespace(ns, "team", fmt.Sprintf("t%d", i%10)))
		for j := range podsPerNS {
			snap.Pods = append(snap.Pods, makePod(ns, fmt.Sprintf("pod-%d", j)).
				labels("app", fmt.Sprintf("app-%d", j%5), "tier", []string{"front", "back"}[j%2]).
				ip(fmt.Sprintf("10.%d.%d.%d", i/250, i%250, j+1)).node(fmt.Sprintf("node-%d", i%100)).
				port("http", 8080, corev1.ProtocolTCP).obj())
		}
		snap.NetworkPolicies = append(snap.NetworkPolicies, networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default-deny"},
			Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}},
		})
		for k := 1; k < policiesPerNS; k++ {
			port := intstr.FromString("http")
			if k%3 == 0 {
				port = intstr.FromInt32(int32(8000 + k))
			}
			snap.NetworkPolicies = append(snap.NetworkPolicies, networkingv1.NetworkPolicy{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("allow-%d", k)},
				Spec: networkingv1.NetworkPolicySpec{
					PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": fmt.Sprintf("app-%d", k%5)}},
					Ingress: []networkingv1.NetworkPolicyIngressRule{{
						From: []networkingv1.NetworkPolicyPeer{
							{
								NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": fmt.Sprintf("t%d", k%10)}},
								PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
									{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"front"}},
								}},
							},
							{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{fmt.Sprintf("10.%d.0.0/16", k%4)}}},
						},
						Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}},
					}},
					Egress: []networkingv1.NetworkPolicyEgressRule{{
						To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}},
					}},
					PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
				},
			})
		}
	}
	return snap
}

// BenchmarkEvaluate measures one decision on a cluster of 1,000 namespaces, 10,000 policies
// and 10,000 pods. "first question" builds a new evaluator each time (indexing every policy
// and compiling the two namespaces'), as a single diagnosis does; "evaluator reused" is the
// cost per question once the namespaces are compiled.
func BenchmarkEvaluate(b *testing.B) {
	const namespaces, policiesPerNS, podsPerNS = 1000, 10, 10
	snap := largeCluster(namespaces, policiesPerNS, podsPerNS)
	// Pairs spread over the cluster, the source's tier front so that some rules allow.
	var pairs [][2]Peer
	for i := range 64 {
		src := &snap.Pods[(i*7919)%len(snap.Pods)/2*2]
		dst := &snap.Pods[(i*104729+3)%len(snap.Pods)]
		pairs = append(pairs, [2]Peer{PodPeer(src), PodPeer(dst)})
	}
	// The workload must decide both ways, or it measures a shortcut.
	allowed := 0
	ev := NewEvaluator(snap)
	for _, p := range pairs {
		if ev.Evaluate(p[0], p[1], model.TCP, 8080).Allowed {
			allowed++
		}
	}
	if allowed == 0 || allowed == len(pairs) {
		b.Fatalf("%d of %d pairs allowed, want a mix", allowed, len(pairs))
	}
	b.Run("first question", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p := pairs[i%len(pairs)]
			Evaluate(snap, p[0], p[1], model.TCP, 8080)
			i++
		}
	})
	b.Run("evaluator reused", func(b *testing.B) {
		ev := NewEvaluator(snap)
		for _, p := range pairs {
			ev.Evaluate(p[0], p[1], model.TCP, 8080)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p := pairs[i%len(pairs)]
			ev.Evaluate(p[0], p[1], model.TCP, 8080)
			i++
		}
	})
}

// TestEvaluatorConcurrent asks one evaluator from several goroutines, past the point where it
// switches from scanning to its index, and checks every answer against a fresh evaluator.
func TestEvaluatorConcurrent(t *testing.T) {
	snap := largeCluster(40, 4, 4)
	want := map[[2]int]bool{}
	for i := range snap.Pods {
		j := (i * 37) % len(snap.Pods)
		want[[2]int{i, j}] = Evaluate(snap, PodPeer(&snap.Pods[i]), PodPeer(&snap.Pods[j]), model.TCP, 8080).Allowed
	}
	ev := NewEvaluator(snap)
	errs := make(chan string, 4*len(want))
	done := make(chan struct{})
	for w := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for k, allowed := range want {
				i, j := k[0], k[1]
				if (i+w)%2 == 0 {
					continue
				}
				if got := ev.Evaluate(PodPeer(&snap.Pods[i]), PodPeer(&snap.Pods[j]), model.TCP, 8080).Allowed; got != allowed {
					errs <- fmt.Sprintf("%d -> %d: allowed %t, want %t", i, j, got, allowed)
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
