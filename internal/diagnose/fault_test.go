package diagnose

import (
	"net/netip"

	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
)

// The faults are injected into the healthy two-node cluster, one at a time, on the way from
// client (node-0) to db (node-1, 10.244.1.11, listening on 5432) unless the case says
// otherwise. node-1's subnet is 10.244.1.0/24, its address 172.18.1.3.
func TestFaultsFlannel(t *testing.T) {
	tcp := model.TCP
	toDB := func(f flow) flow {
		if f.src == "" {
			f.src, f.dst, f.proto, f.port = "pod:default/client", "pod:default/db", tcp, 5432
		}
		return f
	}
	host := func(c *fixture.Cluster, node string) *netstack.Netstack { return c.Host(node) }
	both := map[string]flow{
		"route to the remote subnet blackholed": {
			fault: func(c *fixture.Cluster) { fixture.Blackhole(host(c, "node-0"), "10.244.1.0/24") },
			want:  Unreachable, reasons: []model.Reason{model.ReasonRouteBlackhole},
		},
		"route to the remote subnet removed: the packet leaves for the router": {
			fault: func(c *fixture.Cluster) { fixture.RemoveRoutes(host(c, "node-0"), "10.244.1.0/24") },
			want:  Unreachable, reasons: []model.Reason{model.ReasonRouteWrongNode, model.ReasonPathDiverges},
		},
		"DROP in FORWARD on the destination node": {
			fault: func(c *fixture.Cluster) {
				fixture.InsertRule(host(c, "node-1"), "filter", "FORWARD -d 10.244.1.0/24 -p tcp -m tcp --dport 5432 -j DROP")
			},
			want: Unreachable, reasons: []model.Reason{model.ReasonIPTablesDrop},
		},
		"REJECT in FORWARD on the source node": {
			fault: func(c *fixture.Cluster) {
				fixture.InsertRule(host(c, "node-0"), "filter", "FORWARD -s 10.244.0.10/32 -j REJECT --reject-with icmp-port-unreachable")
			},
			want: Unreachable, reasons: []model.Reason{model.ReasonIPTablesReject},
		},
		"ip_forward off on the source node": {
			fault: func(c *fixture.Cluster) {
				for k := range host(c, "node-0").Sysctls {
					if k == "ipv4/ip_forward" || len(k) > 11 && k[len(k)-11:] == "/forwarding" {
						host(c, "node-0").Sysctls[k] = "0"
					}
				}
			},
			want: Unreachable, reasons: []model.Reason{model.ReasonIPForwardDisabled},
		},
		"the destination pod's host veth is down": {
			fault: func(c *fixture.Cluster) {
				for i := range host(c, "node-1").Interfaces {
					ifc := &host(c, "node-1").Interfaces[i]
					if ifc.Veth != nil && ifc.Veth.PeerIndex == 2 && ifc.Master == "cni0" && ifc.Index == c.PodStack("default", "db").Interfaces[1].Veth.PeerIndex {
						ifc.Up = false
					}
				}
			},
			want: Unreachable, reasons: []model.Reason{model.ReasonInterfaceDown},
		},
		"the bridge is down on the destination node": {
			fault: func(c *fixture.Cluster) { fixture.Interface(host(c, "node-1"), "cni0").Up = false },
			// With cni0 down its connected route is gone, so the kernel sends the packet to the
			// default gateway: the cause and the consequence are both reported.
			want: Unreachable, reasons: []model.Reason{model.ReasonInterfaceDown, model.ReasonRouteWrongNode, model.ReasonPathDiverges},
		},
		"the destination pod has no route back": {
			fault: func(c *fixture.Cluster) {
				db := c.PodStack("default", "db")
				fixture.RemoveRoutes(db, "0.0.0.0/0")
				fixture.RemoveRoutes(db, "10.244.0.0/16")
			},
			want: Unreachable, reasons: []model.Reason{model.ReasonRouteMissing},
		},
		"the destination pod's lo is down, and the pod sends to itself": {
			src: "pod:default/db", dst: "pod:default/db", proto: tcp, port: 5432,
			fault: func(c *fixture.Cluster) { fixture.Interface(c.PodStack("default", "db"), "lo").Up = false },
			want:  Unreachable, reasons: []model.Reason{model.ReasonInterfaceDown},
		},
		"the destination pod's MTU lowered below its veth peer's": {
			fault: func(c *fixture.Cluster) { fixture.Interface(c.PodStack("default", "db"), "eth0").MTU = 1000 },
			want:  Reachable, reasons: []model.Reason{model.ReasonMTUMismatch},
		},
		"the source pod's routes point at a gateway nobody on the bridge holds": {
			// A Service's address, so that br_netfilter's DNAT would hand the frame to the
			// routing code if the pod could send it at all.
			src: "pod:default/client", dst: "service:default/web", proto: tcp, port: 80,
			fault: func(c *fixture.Cluster) {
				host(c, "node-0").Sysctls["bridge/bridge-nf-call-iptables"] = "1"
				client := c.PodStack("default", "client")
				for _, dst := range []string{"0.0.0.0/0", "10.244.0.0/16"} {
					reroute(client, dst, netipAddr("10.244.0.200"), "eth0")
				}
			},
			want: Unreachable, reasons: []model.Reason{model.ReasonNeighbourMissing},
		},
		"nothing listens on the port": {
			src: "pod:default/client", dst: "pod:default/db", proto: tcp, port: 5433,
			want: Unreachable, reasons: []model.Reason{model.ReasonNotListening},
		},
		"the destination node was not collected": {
			fault: func(c *fixture.Cluster) { delete(c.Nodes, "node-1") },
			want:  Unknown,
		},
		"the routes of the source node could not be read": {
			fault: func(c *fixture.Cluster) {
				h := host(c, "node-0")
				h.Errors = append(h.Errors, netstack.PartError{Part: "routes", Error: "netlink: operation not permitted"})
			},
			want: Unknown, reasons: []model.Reason{model.ReasonSnapshotPartError},
		},
		"a rule the evaluator does not know decides": {
			fault: func(c *fixture.Cluster) {
				fixture.InsertRule(host(c, "node-1"), "filter", "FORWARD -d 10.244.1.11/32 -m bpf --bytecode \"4,48 0 0 9\" -j DROP")
			},
			want: Unknown,
		},
		"a NetworkPolicy denies, but flannel does not enforce it": {
			fault: func(c *fixture.Cluster) {
				c.Snapshot.NetworkPolicies = append(c.Snapshot.NetworkPolicies, networkingv1.NetworkPolicy{
					ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "deny-db"},
					Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
						PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}},
				})
			},
			want: Reachable,
		},
		"masquerade removed: a pod's traffic leaves the cluster with its own address": {
			src: "pod:default/client", dst: "ip:1.1.1.1", proto: tcp, port: 443,
			fault: func(c *fixture.Cluster) {
				fixture.InsertRule(host(c, "node-0"), "nat", "POSTROUTING -d 1.1.1.1/32 -j RETURN")
			},
			want: Unreachable, reasons: []model.Reason{model.ReasonMasqueradeMissing},
		},
	}
	vxlan := map[string]flow{
		"vxlan neighbour entry of the remote VTEP missing": {
			fault: func(c *fixture.Cluster) { fixture.RemoveNeighbour(host(c, "node-0"), "10.244.1.0") },
			want:  Unreachable, reasons: []model.Reason{model.ReasonNeighbourMissing},
		},
		"vxlan fdb entry of the remote VTEP missing": {
			fault: func(c *fixture.Cluster) { fixture.RemoveFDB(host(c, "node-0"), "172.18.1.3") },
			want:  Unreachable, reasons: []model.Reason{model.ReasonFDBMissing},
		},
		"vxlan device down on the destination node": {
			fault: func(c *fixture.Cluster) { fixture.Interface(host(c, "node-1"), "flannel.1").Up = false },
			want:  Unreachable, reasons: []model.Reason{model.ReasonInterfaceDown},
		},
		"vxlan traffic dropped in INPUT on the destination node": {
			fault: func(c *fixture.Cluster) {
				fixture.InsertRule(host(c, "node-1"), "filter", "INPUT -p udp -m udp --dport 8472 -j DROP")
			},
			want: Unreachable, reasons: []model.Reason{model.ReasonIPTablesDrop},
		},
		"MTU of flannel.1 too large for the underlay": {
			fault: func(c *fixture.Cluster) { fixture.Interface(host(c, "node-0"), "flannel.1").MTU = 1500 },
			want:  Reachable, reasons: []model.Reason{model.ReasonMTUMismatch},
		},
		"pod MTU larger than the tunnel's": {
			fault: func(c *fixture.Cluster) { fixture.Interface(c.PodStack("default", "client"), "eth0").MTU = 1500 },
			// Twice: the node's end of the pod's veth, where large packets are dropped first,
			// and the plugin's way out that the pod's MTU does not fit either.
			want: Reachable, reasons: []model.Reason{model.ReasonMTUMismatch, model.ReasonMTUMismatch},
		},
		"asymmetric route back with strict rp_filter": {
			fault: func(c *fixture.Cluster) {
				h := host(c, "node-1")
				reroute(h, "10.244.0.0/24", fixture.NodeIP(0), "eth0")
				// The kernel applies the larger of conf/all and conf/<dev>.
				h.Sysctls["ipv4/conf/all/rp_filter"] = "1"
				h.Sysctls["ipv4/conf/flannel.1/rp_filter"] = "1"
			},
			want: Unreachable, reasons: []model.Reason{model.ReasonRPFilterDrop},
		},
	}
	hostgw := map[string]flow{
		"host-gw route through the wrong gateway": {
			fault: func(c *fixture.Cluster) {
				reroute(host(c, "node-0"), "10.244.1.0/24", netipAddr("172.18.1.99"), "eth0")
			},
			want: Unreachable, reasons: []model.Reason{model.ReasonRouteWrongNode, model.ReasonPathDiverges},
		},
		"two nodes route the pod's address to each other": {
			fault: func(c *fixture.Cluster) {
				addRoute(host(c, "node-1"), "10.244.1.11/32", fixture.NodeIP(0), "eth0")
			},
			want: Unreachable, reasons: []model.Reason{model.ReasonRoutingLoop, model.ReasonPathDiverges},
		},
		"pod MTU larger than the underlay's": {
			fault: func(c *fixture.Cluster) { fixture.Interface(c.PodStack("default", "client"), "eth0").MTU = 9000 },
			// Twice: the node's end of the pod's veth, where large packets are dropped first,
			// and the plugin's way out that the pod's MTU does not fit either.
			want: Reachable, reasons: []model.Reason{model.ReasonMTUMismatch, model.ReasonMTUMismatch},
		},
	}
	for name, f := range both {
		for _, backend := range []string{flanneltest.VXLAN, flanneltest.HostGW} {
			t.Run(backend+"/"+name, func(t *testing.T) { runFlow(t, backend, toDB(f)) })
		}
	}
	for name, f := range vxlan {
		t.Run("vxlan/"+name, func(t *testing.T) { runFlow(t, flanneltest.VXLAN, toDB(f)) })
	}
	for name, f := range hostgw {
		t.Run("host-gw/"+name, func(t *testing.T) { runFlow(t, flanneltest.HostGW, toDB(f)) })
	}
}

func netipPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// addRoute gives a stack a unicast route in its main table to dst via gw on dev.
func addRoute(stack *netstack.Netstack, dst string, gw netip.Addr, dev string) {
	stack.Routes = append(stack.Routes, netstack.Route{Table: netstack.TableMain, Type: netstack.RouteUnicast,
		Dst: netipPrefix(dst), Gateway: gw, Device: dev})
}

// reroute replaces a stack's routes to dst by one via gw on dev.
func reroute(stack *netstack.Netstack, dst string, gw netip.Addr, dev string) {
	fixture.RemoveRoutes(stack, dst)
	addRoute(stack, dst, gw, dev)
}
func netipAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
