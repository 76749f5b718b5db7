package k3s_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin/k3s"
	"github.com/netdiag/netdiag/internal/plugin/k3s/k3stest"
	"github.com/netdiag/netdiag/internal/plugin/plugintest"
)

type flow = plugintest.Flow

func host(c *fixture.Cluster, node string) *netstack.Netstack { return c.Host(node) }

// withoutKubeRouter removes every rule and chain of kube-router's from the node, as k3s
// --disable-network-policy leaves it.
func withoutKubeRouter(stack *netstack.Netstack) {
	var out []string
	for line := range strings.SplitSeq(stack.IPTables, "\n") {
		if !strings.Contains(line, "KUBE-ROUTER-") && !strings.Contains(line, k3s.PodChainPrefix) && !strings.Contains(line, k3s.PolicyChainPrefix) {
			out = append(out, line)
		}
	}
	stack.IPTables = strings.Join(out, "\n")
}

// TestFlowsK3s runs the flow table on k3s's two backends: client and web-0 on node-0, web-1
// and db (10.244.1.11) on node-1, every pod behind kube-router's firewall chain.
func TestFlowsK3s(t *testing.T) {
	tcp := model.TCP
	cases := plugintest.Healthy()
	maps.Copy(cases, map[string]flow{
		"pod to the internet is masqueraded by flanneld": {
			Src: "pod:default/client", Dst: "ip:1.1.1.1", Proto: tcp, Port: 443,
			Want: diagnose.Reachable, Via: []string{"external/1.1.1.1"},
		},
		"a NetworkPolicy denies and kube-router's chain rejects": {
			Fault: func(c *fixture.Cluster) { c.DenyIngress("default", "db", "deny-db") },
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonIPTablesReject, model.ReasonNetworkPolicyDenied},
		},
		"a NetworkPolicy denies, but k3s runs with --disable-network-policy": {
			Fault: func(c *fixture.Cluster) {
				for _, n := range []string{"node-0", "node-1"} {
					withoutKubeRouter(host(c, n))
				}
				c.DenyIngress("default", "db", "deny-db")
			},
			Want: diagnose.Reachable, Info: []model.Reason{model.ReasonPolicyNotEnforced},
		},
		"a policy that denies in the objects is not in kube-router's chains yet": {
			Fault: func(c *fixture.Cluster) {
				saved := host(c, "node-1").IPTables
				c.DenyIngress("default", "db", "deny-db")
				host(c, "node-1").IPTables = saved
			},
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonNetworkPolicyDenied},
		},
		"the route to the other node's subnet is gone": {
			Fault: func(c *fixture.Cluster) { fixture.RemoveRoutes(host(c, "node-0"), "10.244.1.0/24") },
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonRouteWrongNode, model.ReasonPathDiverges},
		},
	})
	for _, backend := range []string{k3stest.VXLAN, k3stest.HostGW} {
		for name, f := range cases {
			t.Run(backend+"/"+name, func(t *testing.T) { plugintest.Run(t, k3s.Name, k3stest.TwoNodes(backend), f) })
		}
	}
}
