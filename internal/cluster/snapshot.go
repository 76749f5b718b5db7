package cluster

import (
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/netdiag/netdiag/internal/policy/calico/crd"
)

// Snapshot is the part of the cluster's objects the engine reads. `netdiag diagnose` fills
// its lists from YAML files, tests in code; the engine reads it through its lookups (Pod,
// PodsByIP, EndpointSlicesOf, ...), which index the lists on first use. The controller
// builds one on its informer cache instead (NewSnapshot), so that a diagnosis reads the few
// objects it needs rather than a copy of the cluster.
type Snapshot struct {
	Pods            []corev1.Pod
	Nodes           []corev1.Node
	Namespaces      []corev1.Namespace
	Services        []corev1.Service
	EndpointSlices  []discoveryv1.EndpointSlice
	NetworkPolicies []networkingv1.NetworkPolicy
	DaemonSets      []appsv1.DaemonSet
	// Admin holds the cluster-wide policies of the network-policy-api (admin_types.go).
	Admin AdminPolicies
	// Calico holds Calico's policy objects when the cluster serves their CRDs.
	Calico crd.Objects
	// ConfigMaps are the system namespaces' configuration of the data plane that the
	// engine reads (a kube-proxy replacement's).
	ConfigMaps []corev1.ConfigMap
	// FelixConfigurations are Calico's, where the cluster serves their CRD: the default one
	// says whether the eBPF data plane serves the Services.
	FelixConfigurations []FelixConfiguration

	// objects, when set, answers the lookups; the lists of pods, namespaces, services,
	// slices and policies are then empty.
	objects     Objects
	calico      CalicoObjects
	mem         memIndex
	hasPolicies struct {
		once sync.Once
		v    bool
	}
}

// NewSnapshot returns a snapshot whose lookups objects answer. Nodes and DaemonSets are
// lists still: detection and the plugins scan them (pod CIDRs, annotations, images), and a
// cluster has few of them next to its pods.
func NewSnapshot(objects Objects, nodes []corev1.Node, daemonSets []appsv1.DaemonSet) *Snapshot {
	return &Snapshot{objects: objects, Nodes: nodes, DaemonSets: daemonSets}
}
