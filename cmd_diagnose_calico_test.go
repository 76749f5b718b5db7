package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netdiag/netdiag/internal/snapshotdir"
)

// securityTier is a tier before the default one whose GlobalNetworkPolicy denies the
// client's traffic to web, as `kubectl get -o yaml` prints Calico's stored objects.
const securityTier = `apiVersion: v1
kind: List
items:
- apiVersion: crd.projectcalico.org/v1
  kind: Tier
  metadata: {name: security}
  spec: {order: 100}
- apiVersion: crd.projectcalico.org/v1
  kind: GlobalNetworkPolicy
  metadata: {name: security.deny-client-to-web}
  spec:
    tier: security
    selector: app == 'web'
    ingress:
    - action: Deny
      source: {selector: app == 'client'}
    - action: Pass
`

// TestDiagnoseCalicoObjectsOffline runs `netdiag diagnose` on the calico-routed folder with
// Calico's objects beside it: with felix's chains in the node snapshots the chains decide
// (they hold no chain for the policy) and the disagreement is named; without any felix
// chain the objects decide alone and say so.
func TestDiagnoseCalicoObjectsOffline(t *testing.T) {
	for name, tc := range map[string]struct {
		stripChains bool
		want        []string
	}{
		"felix's chains collected, the policy not among them": {
			want: []string{"Verdict:  Reachable", "CalicoPolicyNotProgrammed", "GlobalNetworkPolicy security.deny-client-to-web selects pod shop/web-1 for ingress, but node-1 has no chain cali-pi-"},
		},
		"no felix chain collected": {
			stripChains: true,
			want: []string{"Verdict:  Unreachable", "CalicoPolicyDenied", "security|security.deny-client-to-web|deny|0",
				"decided by Calico's objects alone: no felix chain was collected on node-1"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			snap, nodes, err := snapshotdir.Load(filepath.Join("testdata", "calico-routed"))
			if err != nil {
				t.Fatal(err)
			}
			if tc.stripChains {
				var keep []string
				for _, line := range strings.Split(nodes["node-1"].Host.IPTables, "\n") {
					if !strings.Contains(line, "cali-") {
						keep = append(keep, line)
					}
				}
				nodes["node-1"].Host.IPTables = strings.Join(keep, "\n")
			}
			dir := t.TempDir()
			if err := snapshotdir.Write(dir, snap, nodes); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "calico.yaml"), []byte(securityTier), 0o600); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := runDiagnose(&out, diagnoseOptions{snapshot: dir, source: "pod:shop/client", destination: "pod:shop/web-1", protocol: "tcp", port: 8080, output: "text", plugin: "auto"}); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("the report does not say %q:\n%s", w, out.String())
				}
			}
		})
	}
}
