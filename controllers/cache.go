package controllers

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/netdiag/netdiag/internal/cluster"
)

// lastApplied is kubectl's copy of the whole object in an annotation: often the largest
// part of a small object, and never read by the engine.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// stripObject drops, before an object enters the cache, what neither the engine nor the
// controller reads. Pods and nodes are most of a large cluster's cache, so they lose the
// most: a pod keeps its identity, labels, node, host-network flag, container ports,
// container states and addresses; a node keeps its addresses, conditions, pod CIDRs and
// taints.
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
	p.Spec.Tolerations = nil
	p.Spec.NodeSelector = nil
	if p.Status.Phase != corev1.PodPending {
		// Nothing reads a started pod's conditions (the engine takes readiness from the
		// EndpointSlices); a pending pod's say why it waits.
		p.Status.Conditions = nil
	}
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

// clusterSnapshot builds the engine's view of the cluster on the cache: the nodes and
// DaemonSets as lists (the plugins scan them; they share the cache's objects, no deep copy),
// everything else looked up through the cache's indexes as the diagnosis asks, so that a
// reconcile costs what its diagnosis reads, not a copy of every pod and service.
func clusterSnapshot(ctx context.Context, c client.Reader) (*cluster.Snapshot, error) {
	if err := checkIndexes(ctx, c); err != nil {
		return nil, err
	}
	var (
		nodes corev1.NodeList
		dss   appsv1.DaemonSetList
	)
	for _, l := range []client.ObjectList{&nodes, &dss} {
		if err := c.List(ctx, l, client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("list %T for the cluster snapshot: %w", l, err)
		}
	}
	// A cache lists in no order; the plugins take the first node or DaemonSet that matches.
	slices.SortFunc(nodes.Items, func(a, b corev1.Node) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(dss.Items, func(a, b appsv1.DaemonSet) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	snap := cluster.NewSnapshot(cacheObjects{ctx: ctx, c: c}, nodes.Items, dss.Items)
	admin, err := adminPolicies(ctx, c)
	if err != nil {
		return nil, err
	}
	snap.Admin = admin
	return snap, nil
}
