package calicotest

import (
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/netdiag/netdiag/internal/fixture"
	cpolicy "github.com/netdiag/netdiag/internal/policy/calico"
)

// AddCalico adds one of Calico's objects, as YAML in the form the cluster stores it
// (crd.projectcalico.org/v1), to the built cluster's snapshot.
func AddCalico(c *fixture.Cluster, doc string) error {
	data, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		return fmt.Errorf("calico object: %w", err)
	}
	if ok, err := c.Snapshot.Calico.Add(data); !ok || err != nil {
		return fmt.Errorf("calico object not taken (%v)", err)
	}
	return nil
}

// ProgramIngress lays what felix programs for a policy with one Deny ingress rule on the
// pod's cali-tw chain on node: the policy's chain, by felix's name for it, and the jump to
// it.
func ProgramIngress(c *fixture.Cluster, node, namespace, pod string, id cpolicy.PolicyID) {
	stack := c.Host(node)
	tw := "cali-tw-" + VethName(namespace, pod)
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
	stack.ReplaceIPTables(strings.Join(out, "\n"))
}
