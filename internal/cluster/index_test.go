package cluster

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdiag/netdiag/internal/model"
)

func pod(ns, name, node, ip string, phase corev1.PodPhase, hostNetwork bool) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.PodSpec{NodeName: node, HostNetwork: hostNetwork},
		Status:     corev1.PodStatus{Phase: phase, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}},
	}
}

func TestIPCacheOwners(t *testing.T) {
	snap := &Snapshot{
		Nodes: []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "n1"},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.0.1"}}}}},
		Pods: []corev1.Pod{
			pod("shop", "web", "n1", "10.244.1.5", corev1.PodRunning, false),
			pod("shop", "old", "n1", "10.244.1.6", corev1.PodSucceeded, false),
			pod("kube-system", "proxy", "n1", "192.168.0.1", corev1.PodRunning, true),
			// A pod that holds a service's address loses it to the service.
			pod("shop", "squatter", "n1", "10.96.0.10", corev1.PodRunning, false),
		},
		Services: []corev1.Service{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
			Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"}, ExternalIPs: []string{"203.0.113.7"}}}},
	}
	for ip, want := range map[string]*model.Endpoint{
		"10.244.1.5":  {Type: model.EndpointPod, Namespace: "shop", Name: "web", Node: "n1"},
		"10.244.1.6":  nil,
		"192.168.0.1": {Type: model.EndpointNode, Name: "n1", Node: "n1"},
		"10.96.0.10":  {Type: model.EndpointService, Namespace: "shop", Name: "web"},
		// An external IP no pod or node holds is the service's way in from outside.
		"203.0.113.7": {Type: model.EndpointService, Namespace: "shop", Name: "web"},
	} {
		addr := netip.MustParseAddr(ip)
		got, ok := snap.IPCache().Lookup(addr)
		if want == nil {
			if ok {
				t.Errorf("%s: owner %+v, want none", ip, got)
			}
			continue
		}
		want.IP = addr
		if !ok || got != *want {
			t.Errorf("%s: owner %+v, want %+v", ip, got, *want)
		}
	}
	if got := snap.ServicesByIP(netip.MustParseAddr("203.0.113.7")); len(got) != 1 || got[0].Name != "web" {
		t.Errorf("services at the external IP: %v", got)
	}
}

func names[P metav1.Object](objs []P) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetNamespace()+"/"+o.GetName())
	}
	return out
}

func TestLookupsAreInNameOrderAndSeeAddedObjects(t *testing.T) {
	label := map[string]string{discoveryv1.LabelServiceName: "web"}
	snap := &Snapshot{EndpointSlices: []discoveryv1.EndpointSlice{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-b", Labels: label}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-a", Labels: label}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "web-c", Labels: label}},
	}}
	if diff := cmp.Diff([]string{"shop/web-a", "shop/web-b"}, names(snap.EndpointSlicesOf("shop", "web"))); diff != "" {
		t.Errorf("slices of shop/web (-want +got):\n%s", diff)
	}
	if snap.Pod("shop", "late") != nil {
		t.Fatal("a pod before it was added")
	}
	// Tests add objects to a snapshot they already asked about.
	snap.Pods = append(snap.Pods, pod("shop", "late", "n1", "10.244.1.9", corev1.PodRunning, false))
	if snap.Pod("shop", "late") == nil || len(snap.PodsOn("n1")) != 1 || len(snap.PodsSelected("shop", nil)) != 1 {
		t.Error("the lookups do not see a pod added after the first")
	}
}
