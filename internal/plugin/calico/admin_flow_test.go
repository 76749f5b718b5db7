package calico_test

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin/calico/calicotest"
)

// Felix enforces AdminNetworkPolicy: the walk applies it in its tier, before NetworkPolicy,
// and names the rule (felix's chains for it are not in these snapshots).
func TestFlowsCalicoAdminNetworkPolicy(t *testing.T) {
	isolateDB := func(c *fixture.Cluster) {
		c.Snapshot.NetworkPolicies = append(c.Snapshot.NetworkPolicies, networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "isolate-db"},
			Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}},
		})
	}
	for name, f := range map[string]flow{
		"an AdminNetworkPolicy denies ingress": {
			Fault: func(c *fixture.Cluster) { c.AdminIngress("default", "db", "no-db", "Deny", 10) },
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonAdminNetworkPolicyDenied},
		},
		"an AdminNetworkPolicy allows what a NetworkPolicy would deny": {
			Fault: func(c *fixture.Cluster) { c.AdminIngress("default", "db", "db-open", "Allow", 10); isolateDB(c) },
			Want:  diagnose.Reachable,
		},
		"an AdminNetworkPolicy allows domain names before it denies everything": {
			Fault: func(c *fixture.Cluster) {
				c.Snapshot.Admin.AdminNetworkPolicies = append(c.Snapshot.Admin.AdminNetworkPolicies, cluster.AdminNetworkPolicy{
					ObjectMeta: metav1.ObjectMeta{Name: "allowlist"},
					Spec: cluster.AdminNetworkPolicySpec{Priority: 1, Subject: cluster.AdminSubject{Namespaces: &metav1.LabelSelector{}},
						Egress: []cluster.AdminEgressRule{
							{Name: "known-hosts", Action: "Allow", To: []cluster.AdminPeer{{DomainNames: []string{"db.example.com"}}}},
							{Name: "nothing-else", Action: "Deny", To: []cluster.AdminPeer{{Networks: []string{"0.0.0.0/0"}}}},
						}},
				})
			},
			// Whether the pod's address is db.example.com's is not in the snapshot.
			Want: diagnose.Unknown, Reasons: []model.Reason{model.ReasonAdminNetworkPolicyDenied}, Info: []model.Reason{model.ReasonRuleNotUnderstood},
		},
		"an AdminNetworkPolicy passes to the NetworkPolicy, which denies": {
			Fault: func(c *fixture.Cluster) { c.AdminIngress("default", "db", "to-teams", "Pass", 10); isolateDB(c) },
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonNetworkPolicyDenied},
		},
	} {
		t.Run(name, func(t *testing.T) { runFlow(t, calicotest.Routed, f) })
	}
}

// Calico orders its tiers around the admin tier as felix does: tiers of order below 1000,
// then adminnetworkpolicy, then the default tier (Calico's own policies and Kubernetes
// NetworkPolicy). An admin rule that decides overrules the default tier, either way; a Pass
// leaves the default tier to decide; a tier ordered before the admin tier decides first.
func TestFlowsCalicoTiersAroundTheAdminTier(t *testing.T) {
	calicoObjects := func(docs ...string) func(c *fixture.Cluster) {
		return func(c *fixture.Cluster) {
			for _, d := range docs {
				addCalico(t, c, d)
			}
			removeFelixChains(c, "node-1")
		}
	}
	both := func(fs ...func(c *fixture.Cluster)) func(c *fixture.Cluster) {
		return func(c *fixture.Cluster) {
			for _, f := range fs {
				f(c)
			}
		}
	}
	for name, f := range map[string]flow{
		"an admin Deny overrules a Calico Allow of the default tier": {
			Fault: both(calicoObjects(allowDB), func(c *fixture.Cluster) { c.AdminIngress("default", "db", "no-db", "Deny", 10) }),
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonAdminNetworkPolicyDenied},
		},
		"an admin Allow overrules a Calico Deny of the default tier": {
			Fault: both(calicoObjects(denyDB), func(c *fixture.Cluster) { c.AdminIngress("default", "db", "db-open", "Allow", 10) }),
			Want:  diagnose.Reachable,
		},
		"an admin Pass leaves the default tier's Calico Deny to decide": {
			Fault: both(calicoObjects(denyDB), func(c *fixture.Cluster) { c.AdminIngress("default", "db", "to-teams", "Pass", 10) }),
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonCalicoPolicyDenied},
		},
		"a tier ordered before the admin tier denies what an admin rule allows": {
			Fault: both(calicoObjects(securityTier, securityDenyDB), func(c *fixture.Cluster) { c.AdminIngress("default", "db", "db-open", "Allow", 10) }),
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonCalicoPolicyDenied},
		},
	} {
		t.Run(name, func(t *testing.T) { runFlow(t, calicotest.Routed, f) })
	}
}

// securityTier is ordered before Calico's adminnetworkpolicy tier (1000).
const securityTier = `
apiVersion: crd.projectcalico.org/v1
kind: Tier
metadata: {name: security}
spec: {order: 500}`

// securityDenyDB denies everything into default/db in the security tier.
const securityDenyDB = `
apiVersion: crd.projectcalico.org/v1
kind: GlobalNetworkPolicy
metadata: {name: security.deny-db}
spec:
  tier: security
  selector: app == 'db'
  ingress:
  - action: Deny`
