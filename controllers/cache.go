package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/netdiag/netdiag/internal/cluster"
)

// lastApplied is kubectl's copy of the whole object in an annotation: often the largest
// part of a small object, and never read by the engine.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// stripObject drops, before an object enters the cache, what neither the engine nor the
// controller reads. Pods and nodes are most of a large cluster's cache, so they lose the
// most: a pod keeps its identity, labels, node, host-network flag, container ports and
// addresses; a node keeps its addresses, conditions, pod CIDRs and taints.
func stripObject(in any) (any, error) {
	if obj, err := meta.Accessor(in); err == nil {
		if obj.GetManagedFields() != nil {
			obj.SetManagedFields(nil)
		}
		if a := obj.GetAnnotations(); a[lastApplied] != "" {
			delete(a, lastApplied)
			obj.SetAnnotations(a)
		}
	}
	switch o := in.(type) {
	case *corev1.Pod:
		stripPod(o)
	case *corev1.Node:
		o.Status.Images = nil
		o.Status.VolumesAttached = nil
		o.Status.VolumesInUse = nil
		o.Status.NodeInfo = corev1.NodeSystemInfo{KubeProxyVersion: o.Status.NodeInfo.KubeProxyVersion, KernelVersion: o.Status.NodeInfo.KernelVersion}
	}
	return in, nil
}

func stripPod(p *corev1.Pod) {
	p.Spec.Volumes = nil
	p.Spec.InitContainers = stripContainers(p.Spec.InitContainers)
	p.Spec.Containers = stripContainers(p.Spec.Containers)
	p.Spec.EphemeralContainers = nil
	p.Spec.Affinity = nil
	p.Spec.TopologySpreadConstraints = nil
	p.Spec.ReadinessGates = nil
	p.Spec.SchedulingGates = nil
	p.Spec.ResourceClaims = nil
	p.Spec.Overhead = nil
	p.Status.InitContainerStatuses = nil
	p.Status.EphemeralContainerStatuses = nil
	p.Status.ResourceClaimStatuses = nil
	for i := range p.Status.ContainerStatuses {
		cs := &p.Status.ContainerStatuses[i]
		cs.ImageID, cs.Image, cs.ContainerID = "", "", ""
		cs.VolumeMounts, cs.AllocatedResources, cs.Resources, cs.AllocatedResourcesStatus = nil, nil, nil, nil
		cs.LastTerminationState = corev1.ContainerState{}
	}
}

// stripContainers keeps a container's name and ports: the engine checks that something
// listens where a Service points.
func stripContainers(cs []corev1.Container) []corev1.Container {
	if cs == nil {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i, c := range cs {
		out[i] = corev1.Container{Name: c.Name, Ports: c.Ports}
	}
	return out
}

// clusterSnapshot builds the engine's view of the cluster from the cache. The lists share
// the cache's objects (no deep copy): the engine only reads them.
func clusterSnapshot(ctx context.Context, c client.Reader) (*cluster.Snapshot, error) {
	noCopy := client.UnsafeDisableDeepCopy
	var (
		pods     corev1.PodList
		nodes    corev1.NodeList
		nss      corev1.NamespaceList
		svcs     corev1.ServiceList
		slices   discoveryv1.EndpointSliceList
		policies networkingv1.NetworkPolicyList
		dss      appsv1.DaemonSetList
	)
	for _, l := range []client.ObjectList{&pods, &nodes, &nss, &svcs, &slices, &policies, &dss} {
		if err := c.List(ctx, l, noCopy); err != nil {
			return nil, fmt.Errorf("list %T for the cluster snapshot: %w", l, err)
		}
	}
	return &cluster.Snapshot{
		Pods:            pods.Items,
		Nodes:           nodes.Items,
		Namespaces:      nss.Items,
		Services:        svcs.Items,
		EndpointSlices:  slices.Items,
		NetworkPolicies: policies.Items,
		DaemonSets:      dss.Items,
	}, nil
}
