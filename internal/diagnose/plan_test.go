package diagnose

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

// planCluster has web on node-1 behind a NodePort Service (TCP 30080) and nothing else.
func planCluster() *cluster.Snapshot {
	return &cluster.Snapshot{
		Pods: []corev1.Pod{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
			Spec:       corev1.PodSpec{NodeName: "node-1"},
			Status:     corev1.PodStatus{PodIP: "10.244.0.3"},
		}},
		Services: []corev1.Service{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.0.80",
				Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP}}},
		}},
		EndpointSlices: []discoveryv1.EndpointSlice{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-abc", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			Endpoints: []discoveryv1.Endpoint{{
				Addresses: []string{"10.244.0.3"},
				NodeName:  ptr.To("node-1"),
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: "web"},
			}},
		}},
	}
}

func TestPlan(t *testing.T) {
	external := model.Endpoint{Type: model.EndpointExternal, IP: netip.MustParseAddr("172.18.0.1")}
	node2 := model.Endpoint{Type: model.EndpointNode, Name: "node-2", Node: "node-2", IP: netip.MustParseAddr("172.18.1.2")}
	web := netstack.PodRef{Namespace: "shop", Name: "web", IP: netip.MustParseAddr("10.244.0.3")}
	cases := map[string]struct {
		q    model.Question
		want map[string][]netstack.PodRef
	}{
		"NodePort on another node than its endpoint": {
			q:    model.Question{Source: external, Destination: node2, Protocol: model.TCP, Port: 30080},
			want: map[string][]netstack.PodRef{"node-1": {web}, "node-2": nil},
		},
		"a node port no Service exposes": {
			q:    model.Question{Source: external, Destination: node2, Protocol: model.TCP, Port: 30081},
			want: map[string][]netstack.PodRef{"node-2": nil},
		},
		"the NodePort's number, other protocol": {
			q:    model.Question{Source: external, Destination: node2, Protocol: model.UDP, Port: 30080},
			want: map[string][]netstack.PodRef{"node-2": nil},
		},
		"ICMP to a node": {
			q:    model.Question{Source: external, Destination: node2, Protocol: model.ICMP},
			want: map[string][]netstack.PodRef{"node-2": nil},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := Plan(planCluster(), tc.q)
			if diff := cmp.Diff(tc.want, got.Pods, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("Plan (-want +got):\n%s", diff)
			}
		})
	}
}

// A Service without a selector has an EndpointSlice made by hand, which names an address
// alone: the pod that holds it, and its node, are collected all the same.
func TestPlanHandMadeEndpointSlice(t *testing.T) {
	snap := planCluster()
	snap.Pods[0].Status.Phase, snap.Pods[0].Status.PodIPs = corev1.PodRunning, []corev1.PodIP{{IP: "10.244.0.3"}}
	snap.Services = append(snap.Services, corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "manual"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.81",
			Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}},
	})
	snap.EndpointSlices = append(snap.EndpointSlices, discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "manual-1", Labels: map[string]string{discoveryv1.LabelServiceName: "manual"}},
		Endpoints:  []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.3"}}},
	})
	src := model.Endpoint{Type: model.EndpointExternal, IP: netip.MustParseAddr("172.18.0.1")}
	dst := model.Endpoint{Type: model.EndpointService, Namespace: "shop", Name: "manual", IP: netip.MustParseAddr("10.96.0.81")}
	got := Plan(snap, model.Question{Source: src, Destination: dst, Protocol: model.TCP, Port: 80})
	want := map[string][]netstack.PodRef{"node-1": {{Namespace: "shop", Name: "web", IP: netip.MustParseAddr("10.244.0.3")}}}
	if diff := cmp.Diff(want, got.Pods, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("Plan (-want +got):\n%s", diff)
	}
}
