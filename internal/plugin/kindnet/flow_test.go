package kindnet_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/fixture/flowtest"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin/kindnet"
	"github.com/netdiag/netdiag/internal/plugin/kindnet/kindnettest"
)

type flow struct {
	// src, dst, proto and port default to TCP from pod client to pod db on 5432.
	src, dst string
	proto    model.Protocol
	port     uint16
	// fault breaks the built cluster before the diagnosis.
	fault func(c *fixture.Cluster)
	// config overrides kindnet's options for the diagnosis.
	config map[string]string

	want diagnose.Verdict
	// reasons are the suspicion codes at Warning or above, most severe first.
	reasons []model.Reason
	// info are codes that must be among the Info suspicions.
	info []model.Reason
	// via are NetNode IDs the path must contain.
	via []string
}

// nodePort is the web service's NodePort in the flow tests' cluster.
const nodePort = 30080

// runFlow diagnoses one flow on a fresh kindnet cluster (kindnettest.TwoNodes, with web
// behind a NodePort) and prints the whole trace when it fails.
func runFlow(t *testing.T, f flow) {
	t.Helper()
	if f.src == "" {
		f.src, f.dst, f.proto, f.port = "pod:default/client", "pod:default/db", model.TCP, 5432
	}
	c := kindnettest.TwoNodes()
	kindnettest.NodePort(c, "default", "web", nodePort)
	if f.fault != nil {
		f.fault(c)
	}
	q := model.Question{
		Source:      flowtest.Endpoint(t, c.Snapshot, diagnose.ParseEndpointRef, f.src),
		Destination: flowtest.Endpoint(t, c.Snapshot, diagnose.ParseEndpointRef, f.dst),
		Protocol:    f.proto, Port: f.port,
	}
	res, err := diagnose.Diagnose(diagnose.Input{Cluster: c.Snapshot, Nodes: c.Nodes, Question: q, NetworkPluginConfig: f.config})
	if err != nil {
		t.Fatalf("Diagnose: %v", err)
	}
	flowtest.Check(t,
		flowtest.Want{Verdict: string(f.want), Plugin: kindnet.Name, Reasons: f.reasons, Info: f.info, Via: f.via},
		flowtest.Got{Verdict: string(res.Verdict), Plugin: res.NetworkPlugin, Suspicions: res.Suspicions, Path: res.Path},
		func(b *strings.Builder) error { return diagnose.WriteText(b, q, res) })
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
	cases := map[string]flow{
		"pod to pod on the same node": {
			src: "pod:default/client", dst: "pod:default/web-0", proto: tcp, port: 8080,
			want: diagnose.Reachable, via: []string{"pod/default/client", "node/node-0", "pod/default/web-0"},
		},
		"pod to pod on another node": {
			want: diagnose.Reachable, via: []string{"pod/default/client", "node/node-0", "node/node-1", "pod/default/db"},
		},
		"pod to a ClusterIP service with endpoints on both nodes": {
			src: "pod:default/client", dst: "service:default/web", proto: tcp, port: 80,
			want: diagnose.Reachable, via: []string{"service/default/web", "pod/default/web-0", "pod/default/web-1"},
		},
		"NodePort from outside the cluster": {
			src: "ip:203.0.113.10", dst: "node:node-1", proto: tcp, port: nodePort,
			want: diagnose.Reachable, via: []string{"node/node-1", "pod/default/web-1"},
		},
		"node to a pod on another node": {
			src: "node:node-0", dst: "pod:default/db", proto: tcp, port: 5432,
			want: diagnose.Reachable, via: []string{"node/node-0", "node/node-1", "pod/default/db"},
		},
		"node to its own pod": {
			src: "node:node-1", dst: "pod:default/db", proto: tcp, port: 5432,
			want: diagnose.Reachable, via: []string{"node/node-1", "pod/default/db"},
		},
		"pod to the internet is masqueraded by KIND-MASQ-AGENT": {
			src: "pod:default/client", dst: "ip:1.1.1.1", proto: tcp, port: 443,
			want: diagnose.Reachable, via: []string{"external/1.1.1.1"},
		},
		"nothing listening": {
			port: 3306, src: "pod:default/client", dst: "pod:default/db", proto: tcp,
			want: diagnose.Unreachable, reasons: []model.Reason{model.ReasonNotListening},
		},
		"the route to the other node's pod CIDR is gone: the packet leaves for the router": {
			fault: func(c *fixture.Cluster) { fixture.RemoveRoutes(host(c, "node-0"), "10.244.1.0/24") },
			want:  diagnose.Unreachable, reasons: []model.Reason{model.ReasonRouteMissing, model.ReasonRouteWrongNode, model.ReasonPathDiverges},
		},
		"KIND-MASQ-AGENT is gone: a pod's traffic leaves the cluster with its own address": {
			src: "pod:default/client", dst: "ip:1.1.1.1", proto: tcp, port: 443,
			fault: func(c *fixture.Cluster) { withoutChain(host(c, "node-0"), kindnet.MasqChain) },
			want:  diagnose.Unreachable, reasons: []model.Reason{model.ReasonMasqueradeMissing},
		},
		"ptp's host route to the destination pod is gone": {
			fault: func(c *fixture.Cluster) { fixture.RemoveRoutes(host(c, "node-1"), "10.244.1.11/32") },
			want:  diagnose.Unreachable, reasons: []model.Reason{model.ReasonRouteMissing, model.ReasonRouteWrongNode, model.ReasonPathDiverges},
		},
		"a DROP in FORWARD on the destination node": {
			fault: func(c *fixture.Cluster) {
				fixture.InsertRule(host(c, "node-1"), "filter", "FORWARD -d 10.244.1.11/32 -p tcp -m tcp --dport 5432 -j DROP")
			},
			want: diagnose.Unreachable, reasons: []model.Reason{model.ReasonIPTablesDrop},
		},
		"service without endpoints": {
			src: "pod:default/client", dst: "service:default/empty", proto: tcp, port: 80,
			want: diagnose.Unreachable, reasons: []model.Reason{model.ReasonServiceNoEndpoints},
		},
		"the route to the other node's pod CIDR goes via the wrong node": {
			fault: func(c *fixture.Cluster) {
				h := host(c, "node-0")
				fixture.RemoveRoutes(h, "10.244.1.0/24")
				h.Routes = append(h.Routes, netstack.Route{Table: netstack.TableMain, Type: netstack.RouteUnicast,
					Dst: netip.MustParsePrefix("10.244.1.0/24"), Gateway: netip.MustParseAddr("172.18.1.99"), Device: "eth0"})
			},
			want: diagnose.Unreachable, reasons: []model.Reason{model.ReasonRouteWrongNode, model.ReasonPathDiverges},
			info: []model.Reason{model.ReasonPathDiverges},
		},
		"no interface of the node holds the pod's gateway": {
			fault: func(c *fixture.Cluster) {
				for _, ifc := range host(c, "node-0").Interfaces {
					if ifc.Kind == "veth" && ifc.Name != "eth0" {
						fixture.Interface(host(c, "node-0"), ifc.Name).Addresses = nil
					}
				}
			},
			want: diagnose.Unreachable, reasons: []model.Reason{model.ReasonNeighbourMissing},
		},
		"the pod's own veth lost the gateway, another veth still answers for it": {
			fault: func(c *fixture.Cluster) { kindnettest.HostVeth(c, "node-0", "default", "client").Addresses = nil },
			want:  diagnose.Reachable,
		},
		"the pod's own veth lost the gateway and ignores ARP for other interfaces' addresses": {
			fault: func(c *fixture.Cluster) {
				v := kindnettest.HostVeth(c, "node-0", "default", "client")
				v.Addresses = nil
				host(c, "node-0").Sysctls["ipv4/conf/"+v.Name+"/arp_ignore"] = "1"
			},
			want: diagnose.Unreachable, reasons: []model.Reason{model.ReasonNeighbourMissing},
		},
		"the destination pod's host veth is down": {
			fault: func(c *fixture.Cluster) { kindnettest.HostVeth(c, "node-1", "default", "db").Up = false },
			want:  diagnose.Unreachable, reasons: []model.Reason{model.ReasonInterfaceDown},
		},
		"the destination pod's host veth is down, and the kernel dropped ptp's route with it": {
			fault: func(c *fixture.Cluster) {
				kindnettest.HostVeth(c, "node-1", "default", "db").Up = false
				fixture.RemoveRoutes(host(c, "node-1"), "10.244.1.11/32")
			},
			want: diagnose.Unreachable, reasons: []model.Reason{model.ReasonInterfaceDown, model.ReasonRouteMissing, model.ReasonRouteWrongNode, model.ReasonPathDiverges},
		},
		"forwarding off on the destination node": {
			fault: func(c *fixture.Cluster) {
				for k := range host(c, "node-1").Sysctls {
					if k == "ipv4/ip_forward" || strings.HasSuffix(k, "/forwarding") {
						host(c, "node-1").Sysctls[k] = "0"
					}
				}
			},
			want: diagnose.Unreachable, reasons: []model.Reason{model.ReasonIPForwardDisabled},
		},
		"pod MTU larger than the underlay's": {
			fault: func(c *fixture.Cluster) { fixture.Interface(c.PodStack("default", "client"), "eth0").MTU = 9000 },
			want:  diagnose.Reachable, reasons: []model.Reason{model.ReasonMTUMismatch},
		},
		"POSTROUTING no longer jumps to KIND-MASQ-AGENT": {
			src: "pod:default/client", dst: "ip:1.1.1.1", proto: tcp, port: 443,
			fault: func(c *fixture.Cluster) {
				h := host(c, "node-0")
				h.IPTables = strings.Replace(h.IPTables, "-A POSTROUTING -m addrtype ! --dst-type LOCAL", "-A POSTROUTING -d 192.0.2.0/24 -m addrtype ! --dst-type LOCAL", 1)
			},
			want: diagnose.Unreachable, reasons: []model.Reason{model.ReasonMasqueradeMissing},
		},
		"a NetworkPolicy denies, and kindnetd enforces it": {
			fault: func(c *fixture.Cluster) { c.DenyIngress("default", "db", "deny-db") },
			want:  diagnose.Unreachable, reasons: []model.Reason{model.ReasonNetworkPolicyDenied},
		},
		"a NetworkPolicy denies, but kindnetd of kind v0.23 enforces none": {
			fault: func(c *fixture.Cluster) {
				c.DenyIngress("default", "db", "deny-db")
				for i := range c.Snapshot.DaemonSets {
					if ds := &c.Snapshot.DaemonSets[i]; ds.Name == kindnet.DaemonSet {
						ds.Spec.Template.Spec.Containers[0].Image = kindnet.Image + ":v20240513-cd2ac642"
					}
				}
			},
			want: diagnose.Reachable, info: []model.Reason{model.ReasonPolicyNotEnforced},
		},
		"a NetworkPolicy denies, and the diagnosis says kindnetd enforces none": {
			fault:  func(c *fixture.Cluster) { c.DenyIngress("default", "db", "deny-db") },
			config: map[string]string{"network-policy": kindnet.PolicyNotEnforced},
			want:   diagnose.Reachable, info: []model.Reason{model.ReasonPolicyNotEnforced},
		},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) { runFlow(t, f) })
	}
}
