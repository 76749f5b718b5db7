package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/policy/calico/crd"
)

// Calico's policy objects, read as the cluster stores them, only where its CRDs exist.
// +kubebuilder:rbac:groups=crd.projectcalico.org,resources=tiers;networkpolicies;globalnetworkpolicies;hostendpoints;networksets;globalnetworksets,verbs=get;list;watch

// withCalico makes the snapshot read Calico's objects from c when the cluster serves their
// CRDs; a cluster without them reads as before.
func withCalico(ctx context.Context, c client.Reader, snap *cluster.Snapshot) error {
	// One probe: without the Tier CRD there is none of the others either.
	if _, err := listCalico(ctx, c, crd.KindTier, ""); err != nil {
		if meta.IsNoMatchError(err) {
			return nil
		}
		return fmt.Errorf("list Calico Tiers for the cluster snapshot: %w", err)
	}
	snap.WithCalico(&calicoObjects{ctx: ctx, c: c})
	return nil
}

func listCalico(ctx context.Context, c client.Reader, kind, namespace string) (*crd.Objects, error) {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(schema.GroupVersionKind{Group: crd.Group, Version: crd.Version, Kind: kind + "List"})
	var opts []client.ListOption
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if err := c.List(ctx, l, opts...); err != nil {
		return nil, err
	}
	out := &crd.Objects{}
	for i := range l.Items {
		item := l.Items[i].Object
		item["apiVersion"], item["kind"] = crd.Group+"/"+crd.Version, kind
		if _, err := out.AddUnstructured(item); err != nil {
			return nil, fmt.Errorf("calico %s %s: %w", kind, l.Items[i].GetName(), err)
		}
	}
	return out, nil
}

// calicoObjects answers cluster.CalicoObjects from the controller's cache: each namespace's
// policies by a namespaced lookup, the cluster-wide objects (few) as lists. An object that
// cannot be read is left out and logged.
type calicoObjects struct {
	ctx context.Context
	c   client.Reader
}

func (o *calicoObjects) read(kind, namespace string) *crd.Objects {
	objs, err := listCalico(o.ctx, o.c, kind, namespace)
	if err != nil {
		logf.FromContext(o.ctx).Error(err, "Calico objects left out of the diagnosis", "kind", kind, "namespace", namespace)
		return &crd.Objects{}
	}
	return objs
}

func (o *calicoObjects) CalicoTiers() []*crd.Tier {
	return cluster.CalicoLists(o.read(crd.KindTier, "")).CalicoTiers()
}

func (o *calicoObjects) CalicoGlobalNetworkPolicies() []*crd.Policy {
	return cluster.CalicoLists(o.read(crd.KindGlobalNetworkPolicy, "")).CalicoGlobalNetworkPolicies()
}

func (o *calicoObjects) CalicoNetworkPoliciesIn(namespace string) []*crd.Policy {
	return cluster.CalicoLists(o.read(crd.KindNetworkPolicy, namespace)).CalicoNetworkPoliciesIn(namespace)
}

func (o *calicoObjects) CalicoHostEndpoints() []*crd.HostEndpoint {
	return cluster.CalicoLists(o.read(crd.KindHostEndpoint, "")).CalicoHostEndpoints()
}

func (o *calicoObjects) CalicoNetworkSets() []*crd.NetworkSet {
	sets := o.read(crd.KindNetworkSet, "")
	sets.GlobalNetworkSets = o.read(crd.KindGlobalNetworkSet, "").GlobalNetworkSets
	return cluster.CalicoLists(sets).CalicoNetworkSets()
}
