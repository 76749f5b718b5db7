package canal_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin/calico/calicotest"
	"github.com/netdiag/netdiag/internal/plugin/canal"
	"github.com/netdiag/netdiag/internal/plugin/canal/canaltest"
	"github.com/netdiag/netdiag/internal/plugin/plugintest"
	cpolicy "github.com/netdiag/netdiag/internal/policy/calico"
)

type flow = plugintest.Flow

func host(c *fixture.Cluster, node string) *netstack.Netstack { return c.Host(node) }

// TestFlowsCanal runs the flow table on canal's two backends: client and web-0 on node-0
// (10.244.0.0/24), web-1 and db (10.244.1.11) on node-1 (172.18.1.3), every pod on a cali
// veth.
func TestFlowsCanal(t *testing.T) {
	tcp := model.TCP
	cases := plugintest.Healthy()
	maps.Copy(cases, map[string]flow{
		"pod to the internet is masqueraded by flanneld": {
			Src: "pod:default/client", Dst: "ip:1.1.1.1", Proto: tcp, Port: 443,
			Want: diagnose.Reachable, Via: []string{"external/1.1.1.1"},
		},
		"the pod's entry for 169.254.1.1 is gone: proxy ARP answers": {
			Fault: func(c *fixture.Cluster) { fixture.RemoveNeighbour(c.PodStack("default", "client"), "169.254.1.1") },
			Want:  diagnose.Reachable,
		},
		"proxy_arp off and the pod's entry for 169.254.1.1 gone": {
			Fault: func(c *fixture.Cluster) {
				host(c, "node-0").Sysctls["ipv4/conf/"+canaltest.VethName("default", "client")+"/proxy_arp"] = "0"
				fixture.RemoveNeighbour(c.PodStack("default", "client"), "169.254.1.1")
			},
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonProxyARPDisabled},
		},
		"a NetworkPolicy denies and felix's chains drop": {
			Fault: func(c *fixture.Cluster) { c.DenyIngress("default", "db", "deny-db") },
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonIPTablesDrop, model.ReasonNetworkPolicyDenied},
		},
		"the route to the other node's subnet is gone: the packet leaves for the router": {
			Fault: func(c *fixture.Cluster) { fixture.RemoveRoutes(host(c, "node-0"), "10.244.1.0/24") },
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonRouteWrongNode, model.ReasonPathDiverges},
		},
		"the CNI plugin's route to the destination pod is missing": {
			Fault: func(c *fixture.Cluster) { fixture.RemoveRoutes(host(c, "node-1"), "10.244.1.11/32") },
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonRouteMissing, model.ReasonRouteWrongNode, model.ReasonPathDiverges},
		},
		"flanneld's masquerade is gone: a pod's traffic leaves the cluster with its own address": {
			Src: "pod:default/client", Dst: "ip:1.1.1.1", Proto: tcp, Port: 443,
			Fault: func(c *fixture.Cluster) {
				fixture.InsertRule(host(c, "node-0"), "nat", "FLANNEL-POSTRTG -d 1.1.1.1/32 -j RETURN")
			},
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonMasqueradeMissing},
		},
	})
	for _, backend := range []string{canaltest.VXLAN, canaltest.HostGW} {
		for name, f := range cases {
			t.Run(backend+"/"+name, func(t *testing.T) { plugintest.Run(t, canal.Name, canaltest.TwoNodes(backend), f) })
		}
	}
}

// TestFlowsCanalVXLAN are the faults of flannel's vxlan under canal.
func TestFlowsCanalVXLAN(t *testing.T) {
	cases := map[string]flow{
		"the fdb entry of the peer's VTEP is missing": {
			Fault: func(c *fixture.Cluster) { fixture.RemoveFDB(host(c, "node-0"), "172.18.1.3") },
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonFDBMissing},
		},
		"flannel.1 down on the destination node": {
			Fault: func(c *fixture.Cluster) { fixture.Interface(host(c, "node-1"), "flannel.1").Up = false },
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonInterfaceDown},
		},
		"flannel's MTU configured as 1400, but flannel.1 still has 1450": {
			Config: map[string]string{"mtu": "1400"},
			Want:   diagnose.Reachable, Reasons: []model.Reason{model.ReasonMTUMismatch},
		},
		"flannel's MTU configured as 1450, as flannel.1 has it": {
			Config: map[string]string{"mtu": "1450"},
			Want:   diagnose.Reachable,
		},
		"pod MTU larger than flannel.1's": {
			Fault: func(c *fixture.Cluster) { fixture.Interface(c.PodStack("default", "client"), "eth0").MTU = 1500 },
			// Twice: the node's end of the pod's veth, where large packets are dropped first,
			// and the plugin's way out that the pod's MTU does not fit either.
			Want: diagnose.Reachable, Reasons: []model.Reason{model.ReasonMTUMismatch, model.ReasonMTUMismatch},
		},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) { plugintest.Run(t, canal.Name, canaltest.TwoNodes(canaltest.VXLAN), f) })
	}
}

// denyDB is a Calico NetworkPolicy that denies everything into default/db.
const denyDB = `
apiVersion: crd.projectcalico.org/v1
kind: NetworkPolicy
metadata: {name: default.deny-db, namespace: default}
spec:
  selector: app == 'db'
  order: 10
  ingress:
  - action: Deny`

// TestFlowsCanalCalicoPolicy checks that canal reads Calico's own policies as calico does:
// felix's chain drops and the Calico policy is named; a policy felix has not programmed is
// named as such.
func TestFlowsCanalCalicoPolicy(t *testing.T) {
	id := cpolicy.PolicyID{Tier: "default", Namespace: "default", Name: "default.deny-db"}
	cases := map[string]struct {
		programmed bool
		flow       flow
	}{
		"felix's chain drops and the Calico policy is named": {programmed: true,
			flow: flow{Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonIPTablesDrop, model.ReasonCalicoPolicyDenied}}},
		"felix has not programmed the policy": {
			flow: flow{Want: diagnose.Reachable, Reasons: []model.Reason{model.ReasonCalicoPolicyNotProgrammed, model.ReasonCalicoPolicyNotProgrammed}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := canaltest.TwoNodes(canaltest.VXLAN)
			if err := calicotest.AddCalico(c, denyDB); err != nil {
				t.Fatal(err)
			}
			if tc.programmed {
				calicotest.ProgramIngress(c, "node-1", "default", "db", id)
			}
			res := plugintest.Run(t, canal.Name, c, tc.flow)
			for _, s := range res.Suspicions {
				if s.Reason == model.ReasonCalicoPolicyDenied && !strings.Contains(s.Message, "default/default.deny-db") {
					t.Errorf("CalicoPolicyDenied does not name the policy: %s", s.Message)
				}
			}
		})
	}
}
