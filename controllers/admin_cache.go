package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/netdiag/netdiag/internal/cluster"
)

// +kubebuilder:rbac:groups=policy.networking.k8s.io,resources=adminnetworkpolicies;baselineadminnetworkpolicies;clusternetworkpolicies,verbs=get;list;watch

// The network-policy-api's kinds are read as unstructured objects: their CRDs may be absent,
// or serve other versions than a typed client would be built for, and the engine's own types
// (internal/cluster) take the fields it needs from whichever version the cluster serves.

// adminPolicyVersions are the versions tried for each kind, newest first: the first one the
// cluster serves is read.
var adminPolicyVersions = []struct {
	kind     string
	versions []string
}{
	{cluster.KindAdminNetworkPolicy, []string{"v1alpha1"}},
	{cluster.KindBaselineAdminNetworkPolicy, []string{"v1alpha1"}},
	{cluster.KindClusterNetworkPolicy, []string{"v1beta1", "v1alpha2"}},
}

// ClientOptions makes the manager's client read unstructured objects from its cache, as it
// reads typed ones: the network-policy-api's kinds are read that way, and each diagnosis
// reads them whole.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{Unstructured: true}}
}

// adminPolicies lists the cluster's AdminNetworkPolicies, BaselineAdminNetworkPolicies and
// ClusterNetworkPolicies, each kind in the first version the cluster serves. A kind whose
// CRD is not installed is none; any other failure is an error, since leaving out a policy
// that exists could turn a denial into a false Reachable.
func adminPolicies(ctx context.Context, c client.Reader) (cluster.AdminPolicies, error) {
	var out cluster.AdminPolicies
	for _, k := range adminPolicyVersions {
		for _, v := range k.versions {
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(schema.GroupVersionKind{Group: cluster.AdminPolicyGroup, Version: v, Kind: k.kind + "List"})
			err := c.List(ctx, list)
			if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return out, fmt.Errorf("list %s %s for the cluster snapshot: %w", k.kind, v, err)
			}
			if err := addAdminPolicies(&out, k.kind, list.Items); err != nil {
				return out, err
			}
			break
		}
	}
	return out, nil
}

func addAdminPolicies(out *cluster.AdminPolicies, kind string, items []unstructured.Unstructured) error {
	for i := range items {
		var err error
		switch kind {
		case cluster.KindAdminNetworkPolicy:
			out.AdminNetworkPolicies = append(out.AdminNetworkPolicies, cluster.AdminNetworkPolicy{})
			err = fromUnstructured(&items[i], &out.AdminNetworkPolicies[len(out.AdminNetworkPolicies)-1])
		case cluster.KindBaselineAdminNetworkPolicy:
			out.BaselineAdminNetworkPolicies = append(out.BaselineAdminNetworkPolicies, cluster.BaselineAdminNetworkPolicy{})
			err = fromUnstructured(&items[i], &out.BaselineAdminNetworkPolicies[len(out.BaselineAdminNetworkPolicies)-1])
		case cluster.KindClusterNetworkPolicy:
			out.ClusterNetworkPolicies = append(out.ClusterNetworkPolicies, cluster.ClusterNetworkPolicy{})
			err = fromUnstructured(&items[i], &out.ClusterNetworkPolicies[len(out.ClusterNetworkPolicies)-1])
		}
		if err != nil {
			return fmt.Errorf("decode %s %s: %w", kind, items[i].GetName(), err)
		}
	}
	return nil
}

func fromUnstructured(u *unstructured.Unstructured, into any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into)
}
