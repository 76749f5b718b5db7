package controllers

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/fixture/flowtest"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin/calico/calicotest"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
)

// smallFill is a generated workload around the fixture, so that lookups have others to miss.
var smallFill = clusterSize{nodes: 20, podsPerNode: 6, namespaces: 8, servicesPerNamespace: 3, policiesPerNamespace: 2}

// lookupWorkload builds c with pods in two namespaces on three nodes, a service in front of
// two of them (kube-proxy's DNAT on every node) also exposed as a node port, a service that
// selects nothing, a policy that isolates web-1, and one in billing that lets in only shop's
// client; then it adds a generated workload of the given size.
func lookupWorkload(c *fixture.Cluster, fill clusterSize) *fixture.Cluster {
	c.Pod("shop", "client", 0, map[string]string{"app": "client"}).
		Pod("shop", "web-0", 1, map[string]string{"app": "web"}, 8080).
		Pod("shop", "web-1", 2, map[string]string{"app": "web"}, 8080).
		Pod("billing", "db", 2, map[string]string{"app": "db"}, 5432).
		Pod("billing", "api", 1, map[string]string{"app": "api"}, 8443).
		Service("shop", "web", map[string]string{"app": "web"}, 80, 8080).
		Service("billing", "db", map[string]string{"app": "db"}, 5432, 5432).
		Service("shop", "empty", map[string]string{"app": "nothing"}, 80, 8080).
		Build()
	c.DenyIngress("shop", "web-1", "deny-web-1")
	s := c.Snapshot
	for i := range s.Namespaces {
		if ns := &s.Namespaces[i]; ns.Name == "shop" {
			ns.Labels["team"] = "shop"
		}
	}
	for i := range s.Services {
		if svc := &s.Services[i]; svc.Namespace == "shop" && svc.Name == "web" {
			svc.Spec.Type = corev1.ServiceTypeNodePort
			svc.Spec.Ports[0].NodePort = 30080
		}
	}
	tcp := corev1.ProtocolTCP
	port := intstr.FromInt32(5432)
	s.NetworkPolicies = append(s.NetworkPolicies, networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "billing", Name: "db-from-shop"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "shop"}},
					PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "client"}},
				}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}},
			}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		},
	})
	fillCluster(s, fill)
	return c
}

type lookupQuestion struct {
	src, dst string
	proto    model.Protocol
	port     uint16
}

// lookupQuestions cover what the engine looks up: names, a service's slices and DNAT, a node
// port, policies across namespaces, node, pod and service addresses, an address of nobody.
func lookupQuestions(c *fixture.Cluster) []lookupQuestion {
	webIP := c.Snapshot.Service("shop", "web").Spec.ClusterIP
	return []lookupQuestion{
		{"pod:shop/client", "service:shop/web", model.TCP, 80},
		{"pod:shop/client", "service:billing/db", model.TCP, 5432},
		{"pod:billing/api", "service:billing/db", model.TCP, 5432},
		{"pod:billing/api", "pod:billing/db", model.TCP, 5432},
		{"pod:shop/client", "pod:shop/web-1", model.TCP, 8080},
		{"pod:shop/client", "service:shop/empty", model.TCP, 80},
		{"pod:shop/client", "node:node-1", model.TCP, 30080},
		{"pod:shop/client", "node:node-2", model.TCP, 22},
		{"ip:" + fixture.NodeIP(1).String(), "pod:shop/web-0", model.TCP, 8080},
		{"pod:shop/client", "ip:" + c.PodIP("shop", "web-1").String(), model.TCP, 8080},
		{"pod:shop/client", "ip:" + webIP, model.TCP, 80},
		{"pod:shop/client", "ip:8.8.8.8", model.TCP, 443},
		{"pod:shop/web-0", "pod:shop/client", model.ICMP, 0},
	}
}

// engineAnswer is everything the engine says of one question on one snapshot, as JSON.
func engineAnswer(t *testing.T, snap *cluster.Snapshot, c *fixture.Cluster, lq lookupQuestion) string {
	t.Helper()
	var out struct {
		Source, Destination model.Endpoint
		Plan                diagnose.CollectPlan
		Result              *diagnose.Result
		Error               string
	}
	out.Source = flowtest.Endpoint(t, snap, diagnose.ParseEndpointRef, lq.src)
	out.Destination = flowtest.Endpoint(t, snap, diagnose.ParseEndpointRef, lq.dst)
	q := model.Question{Source: out.Source, Destination: out.Destination, Protocol: lq.proto, Port: lq.port}
	out.Plan = diagnose.Plan(snap, q)
	res, err := diagnose.Diagnose(diagnose.Input{Cluster: snap, Nodes: c.Nodes, Question: q})
	out.Result = res
	if err != nil {
		out.Error = err.Error()
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestIndexedSnapshotAnswersAsLists is the proof that the controller's snapshot, which looks
// objects up in its informer cache's indexes, gives the engine the answers the same objects
// give it in lists: resolved endpoints, collect plan and diagnosis alike. The cache is the
// controller's own (transform and indexes), fed through its informers.
func TestIndexedSnapshotAnswersAsLists(t *testing.T) {
	reasons := map[model.Reason]bool{}
	for name, build := range map[string]func() *fixture.Cluster{
		"flannel": func() *fixture.Cluster { return flanneltest.New(flanneltest.VXLAN, 3) },
		"calico":  func() *fixture.Cluster { return calicotest.New(calicotest.VXLAN, 3) },
	} {
		t.Run(name, func(t *testing.T) {
			c := lookupWorkload(build(), smallFill)
			objects := objectCache(t, func() *cluster.Snapshot { return c.Snapshot })
			indexed, err := clusterSnapshot(context.Background(), objects)
			if err != nil {
				t.Fatal(err)
			}
			if len(indexed.Pods) != 0 || len(indexed.Services) != 0 || len(indexed.NetworkPolicies) != 0 {
				t.Fatalf("the indexed snapshot copied the cache: %d pods, %d services, %d policies",
					len(indexed.Pods), len(indexed.Services), len(indexed.NetworkPolicies))
			}
			for _, lq := range lookupQuestions(c) {
				want := engineAnswer(t, c.Snapshot, c, lq)
				got := engineAnswer(t, indexed, c, lq)
				if diff := cmp.Diff(strings.Split(want, "\n"), strings.Split(got, "\n")); diff != "" {
					t.Errorf("%s -> %s %s/%d: the indexed snapshot answers otherwise (-lists +indexed):\n%s", lq.src, lq.dst, lq.proto, lq.port, diff)
				}
				var a struct{ Result *diagnose.Result }
				if err := json.Unmarshal([]byte(want), &a); err != nil {
					t.Fatal(err)
				}
				if a.Result == nil {
					t.Fatalf("%s -> %s: no diagnosis: %s", lq.src, lq.dst, want)
				}
				t.Logf("%s -> %s %s/%d: %s", lq.src, lq.dst, lq.proto, lq.port, a.Result.Summary)
				for _, s := range a.Result.Suspicions {
					reasons[s.Reason] = true
				}
			}
		})
	}
	// The questions reach what they are meant to: a policy's denial (calico enforces
	// policy), a service without endpoints.
	for _, r := range []model.Reason{model.ReasonNetworkPolicyDenied, model.ReasonServiceNoEndpoints} {
		if !reasons[r] {
			t.Errorf("no question found %s: the workload no longer covers it", r)
		}
	}
}

// TestStripObjectDropsWhatScheduledPodsNoLongerNeed: a running pod loses its tolerations,
// node selector and conditions, which nothing reads; a pending pod keeps its conditions,
// which say why it waits.
func TestStripObjectDropsWhatScheduledPodsNoLongerNeed(t *testing.T) {
	pod := func(phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
			Spec: corev1.PodSpec{NodeName: "n1", NodeSelector: map[string]string{"disk": "ssd"},
				Tolerations: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists}}},
			Status: corev1.PodStatus{Phase: phase, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable"}}},
		}
	}
	for phase, keepConditions := range map[corev1.PodPhase]bool{corev1.PodRunning: false, corev1.PodSucceeded: false, corev1.PodPending: true} {
		out, err := stripObject(pod(phase))
		if err != nil {
			t.Fatal(err)
		}
		want := pod(phase)
		want.Spec.NodeSelector, want.Spec.Tolerations = nil, nil
		if !keepConditions {
			want.Status.Conditions = nil
		}
		if diff := cmp.Diff(want, out); diff != "" {
			t.Errorf("%s pod (-want +got):\n%s", phase, diff)
		}
	}
}
