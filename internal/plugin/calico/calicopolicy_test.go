package calico_test

import (
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

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
	data, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Snapshot.Calico.Add(data); !ok || err != nil {
		t.Fatalf("calico object not taken (%v)", err)
	}
}

// programIngress lays what felix programs for a policy with one Deny ingress rule on the
// pod's cali-tw chain: the policy's chain, by felix's name for it, and the jump to it.
func programIngress(c *fixture.Cluster, node, namespace, pod string, id cpolicy.PolicyID) {
	stack := c.Host(node)
	tw := "cali-tw-" + calicotest.VethName(namespace, pod)
	pi := id.ChainName(true, false)
	var out []string
	for _, line := range strings.Split(stack.IPTables, "\n") {
		out = append(out, line)
		switch {
		case line == ":"+tw+" - [0:0]":
			out = append(out, ":"+pi+" - [0:0]")
		case strings.HasPrefix(line, "-A "+tw+" ") && strings.HasSuffix(line, "-j MARK --set-xmark 0x0/0x10000"):
			out = append(out,
				fmt.Sprintf(`-A %s -m comment --comment "Start of tier default" -j MARK --set-xmark 0x0/0x20000`, tw),
				fmt.Sprintf(`-A %s -m mark --mark 0x0/0x20000 -j %s`, tw, pi),
				fmt.Sprintf(`-A %s -m comment --comment "Return if policy accepted" -m mark --mark 0x10000/0x10000 -j RETURN`, tw),
				fmt.Sprintf(`-A %s -m comment --comment "End of tier default. Drop if no policies passed packet" -m mark --mark 0x0/0x20000 -j DROP`, tw),
				fmt.Sprintf(`-A %s -m comment --comment "cali:deny" -j DROP`, pi))
		}
	}
	stack.IPTables = strings.Join(out, "\n")
}

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
