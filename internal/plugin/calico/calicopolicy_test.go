package calico_test

import (
	"fmt"
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

// hostEndpointDeny is node-1's eth0 as a HostEndpoint and a GlobalNetworkPolicy that denies
// the kubelet's port on it.
const hostEndpointDeny = `
apiVersion: crd.projectcalico.org/v1
kind: HostEndpoint
metadata: {name: node-1-eth0, labels: {role: worker}}
spec: {node: node-1, interfaceName: eth0, expectedIPs: [172.18.1.3]}
---
apiVersion: crd.projectcalico.org/v1
kind: GlobalNetworkPolicy
metadata: {name: default.deny-kubelet}
spec:
  selector: role == 'worker'
  ingress:
  - action: Deny
    protocol: TCP
    destination: {ports: [10250]}
  - action: Allow`

// programHostEndpoint lays felix's chains for the policy on node's eth0: INPUT from eth0 to
// cali-fh-eth0, which jumps to the policy's chain, which drops the port.
func programHostEndpoint(c *fixture.Cluster, node string, id cpolicy.PolicyID, port int) {
	stack := c.Host(node)
	pi := id.ChainName(true, false)
	rules := []string{
		":cali-fh-eth0 - [0:0]", ":" + pi + " - [0:0]",
		"-A cali-INPUT -i eth0 -j cali-fh-eth0",
		"-A cali-fh-eth0 -j " + pi,
		fmt.Sprintf("-A %s -p tcp -m tcp --dport %d -j DROP", pi, port),
	}
	stack.IPTables = strings.Replace(stack.IPTables, "\nCOMMIT\n", "\n"+strings.Join(rules, "\n")+"\nCOMMIT\n", 1)
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
		"a host endpoint's policy drops in felix's chain and is named": {
			fault: func(t *testing.T, c *fixture.Cluster) {
				for _, doc := range strings.Split(hostEndpointDeny, "---") {
					addCalico(t, c, doc)
				}
				programHostEndpoint(c, "node-1", cpolicy.PolicyID{Tier: "default", Name: "default.deny-kubelet"}, 10250)
			},
			flow: plugintest.Flow{Src: "pod:default/client", Dst: "node:node-1", Proto: model.TCP, Port: 10250,
				Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonCalicoPolicyDenied, model.ReasonIPTablesDrop}},
			code: model.ReasonCalicoPolicyDenied,
			message: []string{"ingress at host endpoint node-1-eth0 (node-1 eth0)", "default|default.deny-kubelet|deny|0",
				"(the rules of GlobalNetworkPolicy default.deny-kubelet)"},
		},
		"a host endpoint's policy without felix's chains: the objects alone decide": {
			fault: func(t *testing.T, c *fixture.Cluster) {
				for _, doc := range strings.Split(hostEndpointDeny, "---") {
					addCalico(t, c, doc)
				}
				removeFelixChains(c, "node-1")
			},
			flow: plugintest.Flow{Src: "pod:default/client", Dst: "node:node-1", Proto: model.TCP, Port: 10250,
				Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonCalicoPolicyDenied}},
			code:    model.ReasonCalicoPolicyDenied,
			message: []string{"ingress at host endpoint node-1-eth0", "default|default.deny-kubelet|deny|0", "decided by Calico's objects alone"},
		},
		"a host endpoint's ssh is failsafe whatever the policy": {
			fault: func(t *testing.T, c *fixture.Cluster) {
				for _, doc := range strings.Split(strings.ReplaceAll(hostEndpointDeny, "ports: [10250]", "ports: [22]"), "---") {
					addCalico(t, c, doc)
				}
				removeFelixChains(c, "node-1")
			},
			flow: plugintest.Flow{Src: "pod:default/client", Dst: "node:node-1", Proto: model.TCP, Port: 22, Want: diagnose.Reachable},
		},
		"a host endpoint's policy felix has not programmed": {
			fault: func(t *testing.T, c *fixture.Cluster) {
				for _, doc := range strings.Split(hostEndpointDeny, "---") {
					addCalico(t, c, doc)
				}
			},
			flow: plugintest.Flow{Src: "pod:default/client", Dst: "node:node-1", Proto: model.TCP, Port: 10250,
				Want: diagnose.Reachable, Reasons: []model.Reason{model.ReasonCalicoPolicyNotProgrammed, model.ReasonCalicoPolicyNotProgrammed}},
			code: model.ReasonCalicoPolicyNotProgrammed,
			message: []string{"GlobalNetworkPolicy default.deny-kubelet selects host endpoint node-1-eth0 (node-1 eth0) for ingress, but node-1 has no chain",
				"felix's chains on node-1 let the packet through"},
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
