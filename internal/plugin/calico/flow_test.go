package calico_test

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/fixture/flowtest"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin/calico"
	"github.com/netdiag/netdiag/internal/plugin/calico/calicotest"
	"github.com/netdiag/netdiag/internal/plugin/plugintest"
)

// twoNodes is the calico cluster of the flow tests (flowtest.TwoNodes): client and web-0 on
// node-0 (block 10.244.0.0/26), web-1 and db (10.244.1.11) on node-1 (block 10.244.1.0/26,
// address 172.18.1.3).
func twoNodes(mode string) *fixture.Cluster {
	return flowtest.TwoNodes(calicotest.New(mode, 2))
}

type flow = plugintest.Flow

// runFlow diagnoses one flow on a fresh cluster and prints the whole trace when it fails.
func runFlow(t *testing.T, mode string, f flow) {
	t.Helper()
	plugintest.Run(t, calico.Name, twoNodes(mode), f)
}

var modes = []string{calicotest.Routed, calicotest.VXLAN, calicotest.IPIP}

func host(c *fixture.Cluster, node string) *netstack.Netstack { return c.Host(node) }

// veth is the host end of a pod's veth.
func veth(c *fixture.Cluster, node, namespace, name string) *netstack.Interface {
	return fixture.Interface(host(c, node), calicotest.VethName(namespace, name))
}

func TestFlowsCalico(t *testing.T) {
	tcp := model.TCP
	cases := plugintest.Healthy()
	maps.Copy(cases, map[string]flow{
		"node to its own pod": {
			Src: "node:node-1", Dst: "pod:default/db", Proto: tcp, Port: 5432,
			Want: diagnose.Reachable, Via: []string{"node/node-1", "pod/default/db"},
		},
		"pod to a node": {
			Src: "pod:default/client", Dst: "node:node-1", Proto: tcp, Port: 10250,
			Want: diagnose.Reachable, Via: []string{"node/node-1"},
		},
		"pod to the internet is masqueraded by nat-outgoing": {
			Src: "pod:default/client", Dst: "ip:1.1.1.1", Proto: tcp, Port: 443,
			Want: diagnose.Reachable, Via: []string{"external/1.1.1.1"},
		},
		"the pod's entry for 169.254.1.1 is gone: proxy ARP answers": {
			Fault: func(c *fixture.Cluster) { fixture.RemoveNeighbour(c.PodStack("default", "client"), "169.254.1.1") },
			Want:  diagnose.Reachable,
		},
		"proxy_arp off, but the pod keeps its static entry for 169.254.1.1": {
			Fault: func(c *fixture.Cluster) {
				host(c, "node-0").Sysctls["ipv4/conf/"+calicotest.VethName("default", "client")+"/proxy_arp"] = "0"
			},
			Want: diagnose.Reachable, Info: []model.Reason{model.ReasonProxyARPDisabled},
		},
		"nothing listening": {
			Port: 3306, Src: "pod:default/client", Dst: "pod:default/db", Proto: tcp,
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonNotListening},
		},
		"service without endpoints": {
			Src: "pod:default/client", Dst: "service:default/empty", Proto: tcp, Port: 80,
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonServiceNoEndpoints},
		},
		"the route to the peer's block is missing: the packet leaves for the router": {
			Fault: func(c *fixture.Cluster) { fixture.RemoveRoutes(host(c, "node-0"), "10.244.1.0/26") },
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonRouteMissing, model.ReasonRouteWrongNode, model.ReasonPathDiverges},
		},
		"the destination pod's cali veth is down: its packets fall into the block's blackhole": {
			Fault: func(c *fixture.Cluster) { veth(c, "node-1", "default", "db").Up = false },
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonInterfaceDown, model.ReasonRouteBlackhole},
		},
		"the destination pod's cali veth is gone": {
			Fault: func(c *fixture.Cluster) {
				h := host(c, "node-1")
				name := calicotest.VethName("default", "db")
				h.Interfaces = slices.DeleteFunc(h.Interfaces, func(i netstack.Interface) bool { return i.Name == name })
				fixture.RemoveRoutes(h, "10.244.1.11/32")
				c.PodStack("default", "db").Interfaces[1].Veth.PeerIndex = 0
			},
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonInterfaceMissing, model.ReasonRouteBlackhole},
		},
		"felix's route to the destination pod is missing": {
			Fault: func(c *fixture.Cluster) { fixture.RemoveRoutes(host(c, "node-1"), "10.244.1.11/32") },
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonRouteBlackhole, model.ReasonRouteMissing},
		},
		"the source pod's cali veth is down": {
			Fault: func(c *fixture.Cluster) { veth(c, "node-0", "default", "client").Up = false },
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonInterfaceDown},
		},
		"proxy_arp off and the pod's entry for 169.254.1.1 gone": {
			Fault: func(c *fixture.Cluster) {
				host(c, "node-0").Sysctls["ipv4/conf/"+calicotest.VethName("default", "client")+"/proxy_arp"] = "0"
				fixture.RemoveNeighbour(c.PodStack("default", "client"), "169.254.1.1")
			},
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonProxyARPDisabled},
		},
		"proxy_arp off and the pod's entry for 169.254.1.1 only learned: it will expire": {
			Fault: func(c *fixture.Cluster) {
				host(c, "node-0").Sysctls["ipv4/conf/"+calicotest.VethName("default", "client")+"/proxy_arp"] = "0"
				c.PodStack("default", "client").Neighbours[0].State = "STALE"
			},
			Want: diagnose.Reachable, Reasons: []model.Reason{model.ReasonProxyARPDisabled},
		},
		"the pod's entry for 169.254.1.1 holds another MAC": {
			Fault: func(c *fixture.Cluster) {
				c.PodStack("default", "client").Neighbours[0].HardwareAddr = "ee:ee:ee:ee:ee:01"
			},
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonNeighbourMissing},
		},
		"a NetworkPolicy denies and felix's chains drop": {
			Fault: func(c *fixture.Cluster) { c.DenyIngress("default", "db", "deny-db") },
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonIPTablesDrop, model.ReasonNetworkPolicyDenied},
		},
		"a NetworkPolicy denies (felix's rules not in the snapshot)": {
			Fault: func(c *fixture.Cluster) {
				c.Snapshot.NetworkPolicies = append(c.Snapshot.NetworkPolicies, networkingv1.NetworkPolicy{
					ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "deny-db"},
					Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
						PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}},
				})
			},
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonNetworkPolicyDenied},
		},
		"a DROP in FORWARD on the destination node": {
			Fault: func(c *fixture.Cluster) {
				fixture.InsertRule(host(c, "node-1"), "filter", "FORWARD -d 10.244.1.0/26 -p tcp -m tcp --dport 5432 -j DROP")
			},
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonIPTablesDrop},
		},
		"forwarding off on the destination node": {
			Fault: func(c *fixture.Cluster) { fixture.DisableForwarding(host(c, "node-1")) },
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonIPForwardDisabled},
		},
		"nat-outgoing removed: a pod's traffic leaves the cluster with its own address": {
			Src: "pod:default/client", Dst: "ip:1.1.1.1", Proto: tcp, Port: 443,
			Fault: func(c *fixture.Cluster) {
				fixture.InsertRule(host(c, "node-0"), "nat", "cali-nat-outgoing -d 1.1.1.1/32 -j RETURN")
			},
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonMasqueradeMissing},
		},
		"the destination pod has no route back": {
			Fault: func(c *fixture.Cluster) { fixture.RemoveRoutes(c.PodStack("default", "db"), "0.0.0.0/0") },
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonRouteMissing},
		},
	})
	for _, mode := range modes {
		for name, f := range cases {
			t.Run(mode+"/"+name, func(t *testing.T) { runFlow(t, mode, f) })
		}
	}
}

func TestFlowsCalicoPerMode(t *testing.T) {
	removeFromSet := func(stack *netstack.Netstack, set, addr string) {
		stack.IPSets = strings.ReplaceAll(stack.IPSets, "add "+set+" "+addr+"\n", "")
	}
	cases := map[string]map[string]flow{
		calicotest.Routed: {
			"pod MTU larger than the underlay's": {
				Fault: func(c *fixture.Cluster) { fixture.Interface(c.PodStack("default", "client"), "eth0").MTU = 9000 },
				// Twice: the node's end of the pod's veth, where large packets are dropped
				// first, and the plugin's way out that the pod's MTU does not fit either.
				Want: diagnose.Reachable, Reasons: []model.Reason{model.ReasonMTUMismatch, model.ReasonMTUMismatch},
			},
			"the peer's block routed through the wrong node": {
				Fault: func(c *fixture.Cluster) {
					h := host(c, "node-0")
					fixture.RemoveRoutes(h, "10.244.1.0/26")
					h.Routes = append(h.Routes, netstack.Route{Table: netstack.TableMain, Type: netstack.RouteUnicast,
						Dst: netip.MustParsePrefix("10.244.1.0/26"), Gateway: netip.MustParseAddr("172.18.1.99"), Device: "eth0", Protocol: "bird"})
				},
				Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonRouteWrongNode, model.ReasonPathDiverges},
			},
		},
		calicotest.VXLAN: {
			"the fdb entry of the peer's VTEP is missing": {
				Fault: func(c *fixture.Cluster) { fixture.RemoveFDB(host(c, "node-0"), "172.18.1.3") },
				Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonFDBMissing},
			},
			"the neighbour entry of the peer's VTEP is missing": {
				Fault: func(c *fixture.Cluster) { fixture.RemoveNeighbour(host(c, "node-0"), "10.244.1.0") },
				Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonNeighbourMissing},
			},
			"vxlan.calico down on the destination node": {
				Fault: func(c *fixture.Cluster) { fixture.Interface(host(c, "node-1"), "vxlan.calico").Up = false },
				Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonInterfaceDown},
			},
			"vxlan packets from a host felix does not know are dropped": {
				Fault: func(c *fixture.Cluster) { removeFromSet(host(c, "node-1"), "cali40all-vxlan-net", "172.18.1.2") },
				Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonIPTablesDrop},
			},
			"MTU of vxlan.calico too large for the underlay": {
				Fault: func(c *fixture.Cluster) { fixture.Interface(host(c, "node-0"), "vxlan.calico").MTU = 1500 },
				Want:  diagnose.Reachable, Reasons: []model.Reason{model.ReasonMTUMismatch},
			},
			"pod MTU larger than the tunnel's": {
				Fault: func(c *fixture.Cluster) { fixture.Interface(c.PodStack("default", "client"), "eth0").MTU = 1500 },
				// Twice: the node's end of the pod's veth, where large packets are dropped
				// first, and the plugin's way out that the pod's MTU does not fit either.
				Want: diagnose.Reachable, Reasons: []model.Reason{model.ReasonMTUMismatch, model.ReasonMTUMismatch},
			},
		},
		calicotest.IPIP: {
			"tunl0 down on the destination node": {
				Fault: func(c *fixture.Cluster) { fixture.Interface(host(c, "node-1"), "tunl0").Up = false },
				Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonInterfaceDown},
			},
			"IP-in-IP from a host felix does not know is dropped": {
				Fault: func(c *fixture.Cluster) { removeFromSet(host(c, "node-1"), "cali40all-hosts-net", "172.18.1.2") },
				Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonIPTablesDrop},
			},
			"MTU of tunl0 too large for the underlay": {
				Fault: func(c *fixture.Cluster) { fixture.Interface(host(c, "node-0"), "tunl0").MTU = 1500 },
				Want:  diagnose.Reachable, Reasons: []model.Reason{model.ReasonMTUMismatch},
			},
			"pod MTU larger than the tunnel's": {
				Fault: func(c *fixture.Cluster) { fixture.Interface(c.PodStack("default", "client"), "eth0").MTU = 1500 },
				// Twice: the node's end of the pod's veth, where large packets are dropped
				// first, and the plugin's way out that the pod's MTU does not fit either.
				Want: diagnose.Reachable, Reasons: []model.Reason{model.ReasonMTUMismatch, model.ReasonMTUMismatch},
			},
			"the underlay route to the peer is gone": {
				Fault: func(c *fixture.Cluster) {
					h := host(c, "node-0")
					fixture.RemoveRoutes(h, "172.18.0.0/16")
					fixture.RemoveRoutes(h, "0.0.0.0/0")
				},
				Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonRouteMissing},
			},
		},
	}
	for mode, byName := range cases {
		for name, f := range byName {
			t.Run(mode+"/"+name, func(t *testing.T) { runFlow(t, mode, f) })
		}
	}
}
