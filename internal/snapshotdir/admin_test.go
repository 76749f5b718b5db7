package snapshotdir

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The network-policy-api's kinds load from what kubectl prints (`kubectl get anp,banp,cnp -o
// yaml`, a List of all three), and a snapshot written keeps them.
func TestAdminPolicies(t *testing.T) {
	dir := t.TempDir()
	printed := `apiVersion: v1
kind: List
items:
- apiVersion: policy.networking.k8s.io/v1alpha1
  kind: AdminNetworkPolicy
  metadata: {name: deny-y}
  spec:
    priority: 10
    subject: {namespaces: {matchLabels: {team: a}}}
    ingress:
    - {name: no-y, action: Deny, from: [{namespaces: {matchLabels: {team: b}}}], ports: [{portNumber: {protocol: SCTP, port: 2905}}]}
- apiVersion: policy.networking.k8s.io/v1alpha1
  kind: BaselineAdminNetworkPolicy
  metadata: {name: default}
  spec:
    subject: {namespaces: {}}
    egress:
    - {action: Deny, to: [{networks: [0.0.0.0/0]}]}
- apiVersion: policy.networking.k8s.io/v1beta1
  kind: ClusterNetworkPolicy
  metadata: {name: dns}
  spec:
    tier: Admin
    priority: 3
    subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}}
    egress:
    - {action: Accept, to: [{namespaces: {}}], protocols: [{udp: {destinationPort: {number: 53}}}]}
`
	if err := os.WriteFile(filepath.Join(dir, "policies.yaml"), []byte(printed), 0o644); err != nil {
		t.Fatal(err)
	}
	snap, _, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := snap.Admin
	if len(a.AdminNetworkPolicies) != 1 || len(a.BaselineAdminNetworkPolicies) != 1 || len(a.ClusterNetworkPolicies) != 1 {
		t.Fatalf("loaded %+v, want one of each kind", a)
	}
	if got := (*a.AdminNetworkPolicies[0].Spec.Ingress[0].Ports)[0].PortNumber.Port; got != 2905 {
		t.Errorf("ANP port = %d, want 2905", got)
	}
	if got := a.ClusterNetworkPolicies[0].Spec.Egress[0].Protocols[0].UDP.DestinationPort.Number; got != 53 {
		t.Errorf("CNP port = %d, want 53", got)
	}

	out := t.TempDir()
	if err := Write(out, snap, nil); err != nil {
		t.Fatal(err)
	}
	again, _, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(snap.Admin, again.Admin); diff != "" {
		t.Errorf("written and loaded again (-first +again):\n%s", diff)
	}
	for _, f := range []string{"adminnetworkpolicies.yaml", "baselineadminnetworkpolicies.yaml", "clusternetworkpolicies.yaml"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("written snapshot has no %s: %v", f, err)
		}
	}
}
