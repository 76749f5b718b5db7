package calico_test

import (
	"strings"
	"testing"

	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin/calico"
	"github.com/netdiag/netdiag/internal/plugin/calico/calicotest"
	"github.com/netdiag/netdiag/internal/plugin/plugintest"
	cpolicy "github.com/netdiag/netdiag/internal/policy/calico"
)

// denyDB is a Calico NetworkPolicy that denies everything into default/db, stored as the
// cluster stores it.
const denyDB = `
apiVersion: crd.projectcalico.org/v1
kind: NetworkPolicy
metadata: {name: default.deny-db, namespace: default}
spec:
  selector: app == 'db'
  order: 10
  ingress:
  - action: Deny`

// allowDB allows everything into default/db, before any Kubernetes NetworkPolicy.
const allowDB = `
apiVersion: crd.projectcalico.org/v1
kind: NetworkPolicy
metadata: {name: default.allow-db, namespace: default}
spec:
  selector: app == 'db'
  order: 10
  ingress:
  - action: Allow`

func addCalico(t *testing.T, c *fixture.Cluster, doc string) {
	t.Helper()
	if err := calicotest.AddCalico(c, doc); err != nil {
		t.Fatal(err)
	}
}

var programIngress = calicotest.ProgramIngress

// removeFelixChains takes every cali- chain out of a node's rules, as an offline snapshot of
// a node without felix has none.
func removeFelixChains(c *fixture.Cluster, node string) {
	stack := c.Host(node)
	var out []string
	for _, line := range strings.Split(stack.IPTables, "\n") {
		if strings.Contains(line, "cali-") {
			continue
		}
		out = append(out, line)
	}
	stack.IPTables = strings.Join(out, "\n")
}

func TestCalicoPolicyInTheWalk(t *testing.T) {
	denyID := cpolicy.PolicyID{Tier: "default", Namespace: "default", Name: "default.deny-db"}
	cases := map[string]struct {
		fault func(t *testing.T, c *fixture.Cluster)
		flow  plugintest.Flow
		// message must appear in the suspicion of that code.
		code    model.Reason
		message []string
	}{
		"felix's chain drops and the Calico policy is named": {
			fault: func(t *testing.T, c *fixture.Cluster) {
				addCalico(t, c, denyDB)
				programIngress(c, "node-1", "default", "db", denyID)
			},
			flow: plugintest.Flow{Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonIPTablesDrop, model.ReasonCalicoPolicyDenied}},
			code: model.ReasonCalicoPolicyDenied,
			message: []string{"NetworkPolicy default/default.deny-db, ingress rule 0", "default|default/default.deny-db|deny|0",
				"felix's chain " + denyID.ChainName(true, false), "(the rules of NetworkPolicy default/default.deny-db)"},
		},
		"no felix chains collected: the objects alone decide, and say so": {
			fault: func(t *testing.T, c *fixture.Cluster) {
				addCalico(t, c, denyDB)
				removeFelixChains(c, "node-1")
			},
			flow:    plugintest.Flow{Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonCalicoPolicyDenied}},
			code:    model.ReasonCalicoPolicyDenied,
			message: []string{"default|default/default.deny-db|deny|0", "decided by Calico's objects alone: no felix chain was collected on node-1"},
		},
		"felix has not programmed the policy: the chains decide, and the disagreement is named": {
			fault: func(t *testing.T, c *fixture.Cluster) { addCalico(t, c, denyDB) },
			flow:  plugintest.Flow{Want: diagnose.Reachable, Reasons: []model.Reason{model.ReasonCalicoPolicyNotProgrammed, model.ReasonCalicoPolicyNotProgrammed}},
			code:  model.ReasonCalicoPolicyNotProgrammed,
			message: []string{"NetworkPolicy default/default.deny-db selects pod default/db for ingress, but node-1 has no chain " + denyID.ChainName(true, false),
				"felix's chains on node-1 let the packet through"},
		},
		"the chains drop what the objects allow": {
			fault: func(t *testing.T, c *fixture.Cluster) {
				c.DenyIngress("default", "db", "deny-db")
				addCalico(t, c, allowDB)
				programIngress(c, "node-1", "default", "db", cpolicy.PolicyID{Tier: "default", Namespace: "default", Name: "default.allow-db"})
			},
			flow:    plugintest.Flow{Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonIPTablesDrop, model.ReasonCalicoPolicyNotProgrammed}},
			code:    model.ReasonCalicoPolicyNotProgrammed,
			message: []string{"drops the packet, but Calico's objects allow ingress at pod default/db", "default|default/default.allow-db|allow|0"},
		},
		"a Calico allow before a Kubernetes deny: the objects alone allow": {
			fault: func(t *testing.T, c *fixture.Cluster) {
				c.DenyIngress("default", "db", "deny-db")
				addCalico(t, c, allowDB)
				removeFelixChains(c, "node-1")
			},
			flow: plugintest.Flow{Want: diagnose.Reachable},
		},
		"a Kubernetes NetworkPolicy alone still reads as NetworkPolicyDenied": {
			fault: func(t *testing.T, c *fixture.Cluster) { c.DenyIngress("default", "db", "deny-db") },
			flow:  plugintest.Flow{Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonIPTablesDrop, model.ReasonNetworkPolicyDenied}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := twoNodes(calicotest.Routed)
			tc.fault(t, c)
			res := plugintest.Run(t, calico.Name, c, tc.flow)
			if tc.code == "" {
				return
			}
			var texts []string
			for _, s := range res.Suspicions {
				if s.Reason == tc.code {
					texts = append(texts, s.Message)
				}
			}
			all := strings.Join(texts, "\n")
			for _, m := range tc.message {
				if !strings.Contains(all, m) {
					t.Errorf("no %s says %q; they say:\n%s", tc.code, m, all)
				}
			}
		})
	}
}
