package cluster

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Snapshot is the part of the cluster's objects the engine reads. The controller fills it
// from its informer cache, `netdiag diagnose` from YAML files, tests in code.
type Snapshot struct {
	Pods            []corev1.Pod
	Nodes           []corev1.Node
	Namespaces      []corev1.Namespace
	Services        []corev1.Service
	EndpointSlices  []discoveryv1.EndpointSlice
	NetworkPolicies []networkingv1.NetworkPolicy
	DaemonSets      []appsv1.DaemonSet

	index index
}
