package flanneltest

import (
	"fmt"
	"net/netip"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/fixture/ruleset"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin/flannel"
)

// Backends the builder lays out.
const (
	VXLAN  = flannel.BackendVXLAN
	HostGW = flannel.BackendHostGW
)

// What flanneld lays for vxlan: flannel.<VNI> with VNI 1, on the kernel's default port
// for vxlan (8472) rather than IANA's.
const (
	vni       = 1
	vxlanPort = 8472
)

// New starts a flannel cluster of n nodes named node-0, node-1, ... with backend: node i
// holds the subnet 10.244.i.0/24 (its pods get .10, .11, ...; cni0 holds .1).
func New(backend string, n int) *fixture.Cluster {
	return fixture.New(Layout{Backend: backend}, n)
}

// Layout is flannel's part of a cluster.
type Layout struct {
	Backend string
}

var _ fixture.Layout = Layout{}

func (l Layout) bridge() string { return flannel.NewConfig().Bridge }

func (l Layout) vxlanDevice() string {
	return fmt.Sprintf("%s.%d", flannel.NewConfig().VXLANDevice, vni)
}

// podMTU is the MTU flannel gives pods: less the tunnel's overhead.
func (l Layout) podMTU(c *fixture.Cluster) int {
	if l.Backend == VXLAN {
		return c.UnderlayMTU - flannel.VXLANOverhead
	}
	return c.UnderlayMTU
}

// gateway is the address cni0 holds in nd's subnet, the pods' default gateway.
func gateway(nd *fixture.Node) netip.Addr { return nd.Subnet.Addr().Next() }

// Node gives node i its VTEP MAC.
func (l Layout) Node(i int, nd *fixture.Node) {
	nd.MAC = fmt.Sprintf("0a:58:%02x:%02x:00:01", i>>8&0xff, i&0xff)
}

// DaemonSets is flannel's DaemonSet in its namespace.
func (l Layout) DaemonSets(*fixture.Cluster) ([]appsv1.DaemonSet, []string) {
	return []appsv1.DaemonSet{fixture.DaemonSet("kube-flannel", "kube-flannel-ds", "ghcr.io/flannel-io/flannel:v0.27.4")}, []string{"kube-flannel"}
}

// NodeObject writes flanneld's annotations.
func (l Layout) NodeObject(_ *fixture.Cluster, nd *fixture.Node, obj *corev1.Node) {
	obj.Annotations[flannel.AnnotationBackendType] = l.Backend
	obj.Annotations[flannel.AnnotationPublicIP] = nd.IP.String()
	if l.Backend == VXLAN {
		obj.Annotations[flannel.AnnotationBackendData] = fmt.Sprintf(`{"VNI":%d,"VtepMAC":"%s"}`, vni, nd.MAC)
	}
}

// Host lays cni0 and, for vxlan, flannel.1.
func (l Layout) Host(c *fixture.Cluster, nd *fixture.Node) fixture.HostParts {
	br, vx := l.bridge(), l.vxlanDevice()
	gw := gateway(nd)
	p := fixture.HostParts{
		Sysctls: map[string]string{
			"ipv4/conf/all/rp_filter":         "2",
			"bridge/bridge-nf-call-iptables":  "1",
			"ipv4/conf/eth0/rp_filter":        "2",
			"ipv4/conf/" + br + "/rp_filter":  "2",
			"ipv4/conf/" + vx + "/rp_filter":  "0",
			"ipv4/conf/" + br + "/forwarding": "1",
			"ipv4/conf/" + vx + "/forwarding": "1",
		},
		Interfaces: []netstack.Interface{{Index: 4, Name: br, Kind: "bridge", MTU: l.podMTU(c), Up: true, OperState: "up", HardwareAddr: fmt.Sprintf("0a:58:0a:f4:%02x:01", nd.Subnet.Addr().As4()[2]),
			Addresses: []netip.Prefix{netip.PrefixFrom(gw, 24)}, Bridge: &netstack.BridgeAttrs{}}},
		Routes:      []netstack.Route{{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: nd.Subnet, Device: br, Scope: "link", Src: gw, Protocol: "kernel"}},
		LocalRoutes: []netstack.Route{fixture.LocalRoute(gw, br)},
	}
	if l.Backend == VXLAN {
		p.Interfaces = append(p.Interfaces, netstack.Interface{Index: 3, Name: vx, Kind: "vxlan", MTU: c.UnderlayMTU - flannel.VXLANOverhead, Up: true, OperState: "unknown", HardwareAddr: nd.MAC,
			Addresses: []netip.Prefix{netip.PrefixFrom(nd.Subnet.Addr(), 32)},
			VXLAN:     &netstack.VXLANAttrs{VNI: vni, Port: vxlanPort, Local: nd.IP, Device: "eth0"}})
		p.LocalRoutes = append(p.LocalRoutes, fixture.LocalRoute(nd.Subnet.Addr(), vx))
	}
	return p
}

// Peer routes peer's subnet: through peer's VTEP on flannel.1 (with the neighbour and fdb
// entries flanneld writes), or for host-gw via peer's address.
func (l Layout) Peer(_ *fixture.Cluster, _, peer *fixture.Node, h *netstack.Netstack) {
	if l.Backend != VXLAN {
		h.Routes = append(h.Routes, netstack.Route{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: peer.Subnet, Gateway: peer.IP, Device: "eth0"})
		return
	}
	vx := l.vxlanDevice()
	h.Routes = append(h.Routes, netstack.Route{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: peer.Subnet, Gateway: peer.Subnet.Addr(), Device: vx, OnLink: true, Flags: []string{"onlink"}})
	h.Neighbours = append(h.Neighbours, netstack.Neighbour{Device: vx, IP: peer.Subnet.Addr(), HardwareAddr: peer.MAC, State: "PERMANENT"})
	h.FDB = append(h.FDB, netstack.FDBEntry{Device: vx, HardwareAddr: peer.MAC, Dst: peer.IP, State: "permanent"})
}

// Pod lays the pod's veth on cni0, as the bridge CNI plugin does.
func (l Layout) Pod(c *fixture.Cluster, p *fixture.Pod, h *netstack.Netstack) fixture.PodParts {
	mtu, a, gw := l.podMTU(c), p.IP.As4(), gateway(p.Node)
	h.Interfaces = append(h.Interfaces, netstack.Interface{Index: p.HostIf, Name: vethName(p.HostIf), Kind: "veth", MTU: mtu, Up: true, OperState: "up",
		HardwareAddr: fmt.Sprintf("ee:ee:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3]),
		Master:       l.bridge(), Veth: &netstack.VethAttrs{PeerIndex: 2, PeerNetNSID: 1}})
	return fixture.PodParts{
		Interface: netstack.Interface{Index: 2, Name: "eth0", Kind: "veth", MTU: mtu, Up: true, OperState: "up",
			HardwareAddr: fmt.Sprintf("0a:58:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3]),
			Addresses:    []netip.Prefix{netip.PrefixFrom(p.IP, 24)}, Veth: &netstack.VethAttrs{PeerIndex: p.HostIf, PeerNetNSID: 0}},
		Routes: []netstack.Route{
			{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: gw, Device: "eth0"},
			{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: fixture.ClusterCIDR, Gateway: gw, Device: "eth0"},
			{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: netip.PrefixFrom(p.IP, 24).Masked(), Device: "eth0", Scope: "link", Src: p.IP, Protocol: "kernel"},
		},
	}
}

// vethName is the host end of the pod veth whose host index is hostIf: the bridge plugin's
// "veth" and eight hex digits.
func vethName(hostIf int) string {
	return fmt.Sprintf("veth%08x", uint32(hostIf)*2654435761)
}

// Rules writes kube-proxy's rules, then flanneld's for nd's subnet (the cluster CIDR when
// nd is nil).
func (l Layout) Rules(_ *fixture.Cluster, nd *fixture.Node, t *ruleset.Tables, kubeProxy func()) {
	kubeProxy()
	subnet := fixture.ClusterCIDR
	if nd != nil {
		subnet = nd.Subnet
	}
	addRules(t, subnet)
}

// IPSets: flannel keeps none.
func (l Layout) IPSets(*fixture.Cluster) string { return "" }

// addRules adds what flanneld writes on a node (pkg/trafficmngr/iptables): forwarding for
// the cluster CIDR and the masquerade of traffic that leaves it.
func addRules(t *ruleset.Tables, subnet netip.Prefix) {
	cidr, sub := fixture.ClusterCIDR.String(), subnet.String()
	t.Chain("filter", "FLANNEL-FWD")
	t.Rule("filter", `FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD`)
	t.Rule("filter", `FLANNEL-FWD -s %s -m comment --comment "flanneld forward" -j ACCEPT`, cidr)
	t.Rule("filter", `FLANNEL-FWD -d %s -m comment --comment "flanneld forward" -j ACCEPT`, cidr)
	t.Chain("nat", "FLANNEL-POSTRTG")
	t.Rule("nat", `POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG`)
	t.Rule("nat", `FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN`)
	t.Rule("nat", `FLANNEL-POSTRTG -s %s -d %s -m comment --comment "flanneld masq" -j RETURN`, sub, cidr)
	t.Rule("nat", `FLANNEL-POSTRTG -s %s -d %s -m comment --comment "flanneld masq" -j RETURN`, cidr, sub)
	t.Rule("nat", `FLANNEL-POSTRTG ! -s %s -d %s -m comment --comment "flanneld masq" -j RETURN`, cidr, sub)
	t.Rule("nat", `FLANNEL-POSTRTG -s %s ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`, cidr)
	t.Rule("nat", `FLANNEL-POSTRTG ! -s %s -d %s -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`, cidr, cidr)
}
