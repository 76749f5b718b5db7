package snapshotdir

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/policy/calico/crd"
)

// TestCalicoObjectsRoundTrip: Calico's NetworkPolicy shares its kind with Kubernetes', and
// each must come back as what it was.
func TestCalicoObjectsRoundTrip(t *testing.T) {
	order := 10.0
	snap := &cluster.Snapshot{
		NetworkPolicies: []networkingv1.NetworkPolicy{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "k8s-one"}}},
		Calico: crd.Objects{
			Tiers:             []crd.Tier{{ObjectMeta: metav1.ObjectMeta{Name: "security"}, Spec: crd.TierSpec{Order: &order}}},
			NetworkPolicies:   []crd.Policy{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "default.calico-one"}, Spec: crd.PolicySpec{Selector: "app == 'db'"}}},
			GlobalNetworkSets: []crd.NetworkSet{{ObjectMeta: metav1.ObjectMeta{Name: "feed"}, Spec: crd.NetworkSetSpec{Nets: []string{"192.0.2.0/24"}}}},
		},
	}
	files, err := Encode(snap, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := Parse("mem", files)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.NetworkPolicies) != 1 || got.NetworkPolicies[0].Name != "k8s-one" {
		t.Errorf("Kubernetes NetworkPolicies = %v, want k8s-one alone", got.NetworkPolicies)
	}
	c := got.Calico
	if len(c.NetworkPolicies) != 1 || c.NetworkPolicies[0].Spec.Selector != "app == 'db'" || c.NetworkPolicies[0].Namespace != "shop" {
		t.Errorf("Calico NetworkPolicies = %+v", c.NetworkPolicies)
	}
	if len(c.Tiers) != 1 || c.Tiers[0].Spec.Order == nil || *c.Tiers[0].Spec.Order != 10 {
		t.Errorf("Tiers = %+v", c.Tiers)
	}
	if len(c.GlobalNetworkSets) != 1 || c.GlobalNetworkSets[0].Spec.Nets[0] != "192.0.2.0/24" {
		t.Errorf("GlobalNetworkSets = %+v", c.GlobalNetworkSets)
	}
}
