package kindnet_test

import (
	"maps"
	"net/netip"
	"strings"
	"testing"

	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin/kindnet"
	"github.com/netdiag/netdiag/internal/plugin/kindnet/kindnettest"
	"github.com/netdiag/netdiag/internal/plugin/plugintest"
)

type flow = plugintest.Flow

// nodePort is the web service's NodePort in the flow tests' cluster.
const nodePort = 30080

// runFlow diagnoses one flow on a fresh kindnet cluster (kindnettest.TwoNodes, with web
// behind a NodePort) and prints the whole trace when it fails.
func runFlow(t *testing.T, f flow) {
	t.Helper()
	c := kindnettest.TwoNodes()
	kindnettest.NodePort(c, "default", "web", nodePort)
	plugintest.Run(t, kindnet.Name, c, f)
}

func host(c *fixture.Cluster, node string) *netstack.Netstack { return c.Host(node) }

// withoutChain removes a chain, its rules and every jump to it from a node's iptables.
func withoutChain(stack *netstack.Netstack, chain string) {
	var out []string
	for l := range strings.SplitSeq(stack.IPTables, "\n") {
		if l == ":"+chain+" - [0:0]" || strings.HasPrefix(l, "-A "+chain+" ") || strings.HasSuffix(l, "-j "+chain) {
			continue
		}
		out = append(out, l)
	}
	stack.IPTables = strings.Join(out, "\n")
}

func TestFlowsKindnet(t *testing.T) {
	tcp := model.TCP
	cases := plugintest.Healthy()
	maps.Copy(cases, map[string]flow{
		"NodePort from outside the cluster": {
			Src: "ip:203.0.113.10", Dst: "node:node-1", Proto: tcp, Port: nodePort,
			Want: diagnose.Reachable, Via: []string{"node/node-1", "pod/default/web-1"},
		},
		"node to its own pod": {
			Src: "node:node-1", Dst: "pod:default/db", Proto: tcp, Port: 5432,
			Want: diagnose.Reachable, Via: []string{"node/node-1", "pod/default/db"},
		},
		"pod to the internet is masqueraded by KIND-MASQ-AGENT": {
			Src: "pod:default/client", Dst: "ip:1.1.1.1", Proto: tcp, Port: 443,
			Want: diagnose.Reachable, Via: []string{"external/1.1.1.1"},
		},
		"nothing listening": {
			Port: 3306, Src: "pod:default/client", Dst: "pod:default/db", Proto: tcp,
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonNotListening},
		},
		"the route to the other node's pod CIDR is gone: the packet leaves for the router": {
			Fault: func(c *fixture.Cluster) { fixture.RemoveRoutes(host(c, "node-0"), "10.244.1.0/24") },
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonRouteMissing, model.ReasonRouteWrongNode, model.ReasonPathDiverges},
		},
		"KIND-MASQ-AGENT is gone: a pod's traffic leaves the cluster with its own address": {
			Src: "pod:default/client", Dst: "ip:1.1.1.1", Proto: tcp, Port: 443,
			Fault: func(c *fixture.Cluster) { withoutChain(host(c, "node-0"), kindnet.MasqChain) },
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonMasqueradeMissing},
		},
		"ptp's host route to the destination pod is gone": {
			Fault: func(c *fixture.Cluster) { fixture.RemoveRoutes(host(c, "node-1"), "10.244.1.11/32") },
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonRouteMissing, model.ReasonRouteWrongNode, model.ReasonPathDiverges},
		},
		"a DROP in FORWARD on the destination node": {
			Fault: func(c *fixture.Cluster) {
				fixture.InsertRule(host(c, "node-1"), "filter", "FORWARD -d 10.244.1.11/32 -p tcp -m tcp --dport 5432 -j DROP")
			},
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonIPTablesDrop},
		},
		"service without endpoints": {
			Src: "pod:default/client", Dst: "service:default/empty", Proto: tcp, Port: 80,
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonServiceNoEndpoints},
		},
		"the route to the other node's pod CIDR goes via the wrong node": {
			Fault: func(c *fixture.Cluster) {
				h := host(c, "node-0")
				fixture.RemoveRoutes(h, "10.244.1.0/24")
				h.Routes = append(h.Routes, netstack.Route{Table: netstack.TableMain, Type: netstack.RouteUnicast,
					Dst: netip.MustParsePrefix("10.244.1.0/24"), Gateway: netip.MustParseAddr("172.18.1.99"), Device: "eth0"})
			},
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonRouteWrongNode, model.ReasonPathDiverges},
			Info: []model.Reason{model.ReasonPathDiverges},
		},
		"no interface of the node holds the pod's gateway": {
			Fault: func(c *fixture.Cluster) {
				for _, ifc := range host(c, "node-0").Interfaces {
					if ifc.Kind == "veth" && ifc.Name != "eth0" {
						fixture.Interface(host(c, "node-0"), ifc.Name).Addresses = nil
					}
				}
			},
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonNeighbourMissing},
		},
		"the pod's own veth lost the gateway, another veth still answers for it": {
			Fault: func(c *fixture.Cluster) { kindnettest.HostVeth(c, "node-0", "default", "client").Addresses = nil },
			Want:  diagnose.Reachable,
		},
		"the pod's own veth lost the gateway and ignores ARP for other interfaces' addresses": {
			Fault: func(c *fixture.Cluster) {
				v := kindnettest.HostVeth(c, "node-0", "default", "client")
				v.Addresses = nil
				host(c, "node-0").Sysctls["ipv4/conf/"+v.Name+"/arp_ignore"] = "1"
			},
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonNeighbourMissing},
		},
		"the destination pod's host veth is down": {
			Fault: func(c *fixture.Cluster) { kindnettest.HostVeth(c, "node-1", "default", "db").Up = false },
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonInterfaceDown},
		},
		"the destination pod's host veth is down, and the kernel dropped ptp's route with it": {
			Fault: func(c *fixture.Cluster) {
				kindnettest.HostVeth(c, "node-1", "default", "db").Up = false
				fixture.RemoveRoutes(host(c, "node-1"), "10.244.1.11/32")
			},
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonInterfaceDown, model.ReasonRouteMissing, model.ReasonRouteWrongNode, model.ReasonPathDiverges},
		},
		"forwarding off on the destination node": {
			Fault: func(c *fixture.Cluster) { fixture.DisableForwarding(host(c, "node-1")) },
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonIPForwardDisabled},
		},
		"pod MTU larger than the underlay's": {
			Fault: func(c *fixture.Cluster) { fixture.Interface(c.PodStack("default", "client"), "eth0").MTU = 9000 },
			// Twice: the node's end of the pod's veth, where large packets are dropped
			// first, and the plugin's way out that the pod's MTU does not fit either.
			Want: diagnose.Reachable, Reasons: []model.Reason{model.ReasonMTUMismatch, model.ReasonMTUMismatch},
		},
		"POSTROUTING no longer jumps to KIND-MASQ-AGENT": {
			Src: "pod:default/client", Dst: "ip:1.1.1.1", Proto: tcp, Port: 443,
			Fault: func(c *fixture.Cluster) {
				h := host(c, "node-0")
				h.IPTables = strings.Replace(h.IPTables, "-A POSTROUTING -m addrtype ! --dst-type LOCAL", "-A POSTROUTING -d 192.0.2.0/24 -m addrtype ! --dst-type LOCAL", 1)
			},
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonMasqueradeMissing},
		},
		"a NetworkPolicy denies, and kindnetd enforces it": {
			Fault: func(c *fixture.Cluster) { c.DenyIngress("default", "db", "deny-db") },
			Want:  diagnose.Unreachable, Reasons: []model.Reason{model.ReasonNetworkPolicyDenied},
		},
		"a NetworkPolicy denies, but kindnetd of kind v0.23 enforces none": {
			Fault: func(c *fixture.Cluster) {
				c.DenyIngress("default", "db", "deny-db")
				for i := range c.Snapshot.DaemonSets {
					if ds := &c.Snapshot.DaemonSets[i]; ds.Name == kindnet.DaemonSet {
						ds.Spec.Template.Spec.Containers[0].Image = kindnet.Image + ":v20240513-cd2ac642"
					}
				}
			},
			Want: diagnose.Reachable, Info: []model.Reason{model.ReasonPolicyNotEnforced},
		},
		"a NetworkPolicy denies, and the diagnosis says kindnetd enforces none": {
			Fault:  func(c *fixture.Cluster) { c.DenyIngress("default", "db", "deny-db") },
			Config: map[string]string{"network-policy": kindnet.PolicyNotEnforced},
			Want:   diagnose.Reachable, Info: []model.Reason{model.ReasonPolicyNotEnforced},
		},
	})
	for name, f := range cases {
		t.Run(name, func(t *testing.T) { runFlow(t, f) })
	}
}
