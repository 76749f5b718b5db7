package controllers

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/policy/calico/crd"
)

func calicoObject(kind, namespace, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: crd.Group, Version: crd.Version, Kind: kind})
	u.SetNamespace(namespace)
	u.SetName(name)
	return u
}

// calicoMapper knows Calico's kinds, as discovery does where the CRDs are installed.
func calicoMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	for kind := range crd.Resources {
		scope := meta.RESTScopeRoot
		if kind == crd.KindNetworkPolicy || kind == crd.KindNetworkSet {
			scope = meta.RESTScopeNamespace
		}
		gvk := schema.GroupVersionKind{Group: crd.Group, Version: crd.Version, Kind: kind}
		m.Add(gvk, scope)
		m.Add(gvk.GroupVersion().WithKind(kind+"List"), scope)
	}
	return m
}

func TestSnapshotReadsCalicoObjectsWhereTheirCRDsExist(t *testing.T) {
	objs := []client.Object{
		calicoObject(crd.KindTier, "", "security", map[string]any{"order": 100.0}),
		calicoObject(crd.KindNetworkPolicy, "shop", "default.deny-db", map[string]any{"selector": "app == 'db'"}),
		calicoObject(crd.KindNetworkPolicy, "ops", "default.other", map[string]any{}),
		calicoObject(crd.KindGlobalNetworkPolicy, "", "security.base", map[string]any{"selector": "all()"}),
		calicoObject(crd.KindGlobalNetworkSet, "", "feed", map[string]any{"nets": []any{"192.0.2.0/24"}}),
	}
	c := fake.NewClientBuilder().WithScheme(runtime.NewScheme()).WithRESTMapper(calicoMapper()).WithObjects(objs...).Build()
	snap := &cluster.Snapshot{}
	if err := withCalico(context.Background(), c, snap); err != nil {
		t.Fatal(err)
	}
	got := snap.CalicoObjects()
	if got == nil {
		t.Fatal("no Calico lookups on a cluster that serves the CRDs")
	}
	if ps := got.CalicoNetworkPoliciesIn("shop"); len(ps) != 1 || ps[0].Name != "default.deny-db" || ps[0].Spec.Selector != "app == 'db'" {
		t.Errorf("NetworkPolicies in shop = %+v, want default.deny-db alone", ps)
	}
	if ts := got.CalicoTiers(); len(ts) != 1 || ts[0].Spec.Order == nil || *ts[0].Spec.Order != 100 {
		t.Errorf("Tiers = %+v", ts)
	}
	if gs := got.CalicoGlobalNetworkPolicies(); len(gs) != 1 || gs[0].Name != "security.base" {
		t.Errorf("GlobalNetworkPolicies = %+v", gs)
	}
	if ns := got.CalicoNetworkSets(); len(ns) != 1 || ns[0].Spec.Nets[0] != "192.0.2.0/24" {
		t.Errorf("NetworkSets = %+v", ns)
	}

	// The controller's own cache, whose mapper knows no Calico kind: a cluster without the
	// CRDs.
	plain, err := clusterSnapshot(context.Background(), objectCache(t, func() *cluster.Snapshot { return &cluster.Snapshot{} }))
	if err != nil {
		t.Fatalf("a cluster without Calico's CRDs: %v", err)
	}
	if plain.CalicoObjects() != nil {
		t.Error("Calico lookups on a cluster without the CRDs")
	}
}

// TestKeptDiagnosisKeepsCalicoObjects: a diagnosis that keeps its snapshots reads through a
// recorder, and still with Calico's policies, so that keeping them changes no verdict.
func TestKeptDiagnosisKeepsCalicoObjects(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(runtime.NewScheme()).WithRESTMapper(calicoMapper()).
		WithObjects(calicoObject(crd.KindNetworkPolicy, "shop", "default.deny-db", map[string]any{"selector": "app == 'db'"})).Build()
	snap := &cluster.Snapshot{}
	if err := withCalico(context.Background(), c, snap); err != nil {
		t.Fatal(err)
	}
	r := &NetworkDiagnosisReconciler{KeepSnapshots: true}
	s := &scope{nd: &diagv1alpha1.NetworkDiagnosis{}, snapshot: snap}
	if _, err := r.recordReads(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	got := s.snapshot.CalicoObjects()
	if got == nil || len(got.CalicoNetworkPoliciesIn("shop")) != 1 {
		t.Fatalf("a kept diagnosis lost Calico's policies: %v", got)
	}
}
