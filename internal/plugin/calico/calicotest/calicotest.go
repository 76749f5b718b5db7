package calicotest

import (
	"fmt"
	"net/netip"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin/calico"
)

// Modes the builder lays out.
const (
	// Routed: BGP without encapsulation, each peer block via the peer's address.
	Routed = calico.ModeRouted
	// VXLAN: each peer block via the peer's VTEP on vxlan.calico (VNI 4096, port 4789).
	VXLAN = calico.ModeVXLAN
	// IPIP: each peer block via the peer's address on tunl0. The kernel here has no ipip, so
	// this mode exists only as snapshots built in code.
	IPIP = calico.ModeIPIP
)

// What felix lays for vxlan, and the annotation calico-node writes with the VTEP's MAC.
const (
	vxlanVNI                 = 4096
	vxlanPort                = 4789
	annotationVXLANTunnelMAC = "projectcalico.org/VXLANTunnelMACAddr"
)

// New starts a calico cluster of n nodes named node-0, node-1, ... in mode. Node i holds
// the IPAM block 10.244.i.0/26 (its pods get .10, .11, ...; the tunnel address, in the
// encapsulating modes, is the block's first address).
func New(mode string, n int) *fixture.Cluster {
	return fixture.New(Layout{Mode: mode}, n)
}

// VethName is the host end of a pod's veth as calico's CNI plugin names it with the default
// interface prefix.
func VethName(namespace, name string) string {
	return calico.VethName(calico.DefaultInterfacePrefix, namespace, name)
}

// Layout is calico's part of a cluster.
type Layout struct {
	Mode string
}

var _ fixture.PolicyLayout = Layout{}

// podMTU is the MTU calico gives pods: less the tunnel's overhead.
func (l Layout) podMTU(c *fixture.Cluster) int {
	switch l.Mode {
	case VXLAN:
		return c.UnderlayMTU - calico.VXLANOverhead
	case IPIP:
		return c.UnderlayMTU - calico.IPIPOverhead
	}
	return c.UnderlayMTU
}

// tunnelDevice is the mode's tunnel device, "" when routed.
func (l Layout) tunnelDevice() string {
	switch l.Mode {
	case VXLAN:
		return calico.DefaultVXLANDevice
	case IPIP:
		return calico.DefaultIPIPDevice
	}
	return ""
}

// Node narrows the node's range to a /26 block and gives it its VTEP MAC.
func (l Layout) Node(_ int, nd *fixture.Node) {
	nd.Subnet = netip.PrefixFrom(nd.Subnet.Addr(), 26)
	a := nd.IP.As4()
	nd.MAC = fmt.Sprintf("66:c0:ca:11:%02x:%02x", a[2], a[3])
}

// DaemonSets is calico-node, with the environment that settles its data plane.
func (l Layout) DaemonSets(*fixture.Cluster) ([]appsv1.DaemonSet, []string) {
	ds := fixture.DaemonSet("kube-system", "calico-node", "docker.io/calico/node:v3.30.3")
	ds.Labels = map[string]string{"k8s-app": "calico-node"}
	backend, vxlan, ipip := "bird", "Never", "Never"
	switch l.Mode {
	case VXLAN:
		backend, vxlan = "vxlan", "Always"
	case IPIP:
		ipip = "Always"
	}
	ds.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{
		{Name: calico.EnvNetworkingBackend, Value: backend},
		{Name: "CALICO_IPV4POOL_CIDR", Value: fixture.ClusterCIDR.String()},
		{Name: "CALICO_IPV4POOL_BLOCK_SIZE", Value: "26"},
		{Name: calico.EnvPoolVXLAN, Value: vxlan},
		{Name: calico.EnvPoolIPIP, Value: ipip},
		{Name: calico.EnvPoolNATOutgoing, Value: "true"},
		{Name: "FELIX_IPINIPMTU", Value: "1480"},
	}
	return []appsv1.DaemonSet{ds}, nil
}

// NodeObject writes calico-node's annotations. Calico's IPAM hands out the blocks, so the
// node object carries no podCIDR.
func (l Layout) NodeObject(_ *fixture.Cluster, nd *fixture.Node, obj *corev1.Node) {
	obj.Spec = corev1.NodeSpec{}
	obj.Annotations[calico.AnnotationIPv4Address] = netip.PrefixFrom(nd.IP, fixture.Underlay.Bits()).String()
	switch l.Mode {
	case VXLAN:
		obj.Annotations[calico.AnnotationVXLANTunnelAddr] = nd.Subnet.Addr().String()
		obj.Annotations[annotationVXLANTunnelMAC] = nd.MAC
	case IPIP:
		obj.Annotations[calico.AnnotationIPIPTunnelAddr] = nd.Subnet.Addr().String()
	}
}

// Host lays BIRD's blackhole for the node's block and the mode's tunnel device.
func (l Layout) Host(c *fixture.Cluster, nd *fixture.Node) fixture.HostParts {
	p := fixture.HostParts{
		Sysctls: map[string]string{
			"ipv4/conf/all/rp_filter":  "0",
			"ipv4/conf/all/proxy_arp":  "0",
			"ipv4/conf/eth0/rp_filter": "0",
			"ipv4/conf/eth0/proxy_arp": "0",
		},
		// BIRD keeps unused addresses of the node's own block from leaking out of the
		// default route.
		Routes: []netstack.Route{{Table: netstack.TableMain, Type: netstack.RouteBlackhole, Dst: nd.Subnet, Protocol: "bird"}},
	}
	tunnel, dev := nd.Subnet.Addr(), l.tunnelDevice()
	switch l.Mode {
	case VXLAN:
		p.Interfaces = append(p.Interfaces, netstack.Interface{Index: 3, Name: dev, Kind: "vxlan", MTU: c.UnderlayMTU - calico.VXLANOverhead, Up: true, OperState: "unknown", HardwareAddr: nd.MAC,
			Addresses: []netip.Prefix{netip.PrefixFrom(tunnel, 32)},
			VXLAN:     &netstack.VXLANAttrs{VNI: vxlanVNI, Port: vxlanPort, Local: nd.IP, Device: "eth0"}})
	case IPIP:
		p.Interfaces = append(p.Interfaces, netstack.Interface{Index: 3, Name: dev, Kind: "ipip", MTU: c.UnderlayMTU - calico.IPIPOverhead, Up: true, OperState: "unknown",
			Addresses: []netip.Prefix{netip.PrefixFrom(tunnel, 32)}, IPIP: &netstack.TunnelAttrs{}})
	}
	if dev != "" {
		p.Sysctls["ipv4/conf/"+dev+"/rp_filter"] = "0"
		p.Sysctls["ipv4/conf/"+dev+"/forwarding"] = "1"
		p.LocalRoutes = append(p.LocalRoutes, fixture.LocalRoute(tunnel, dev))
	}
	return p
}

// Peer routes peer's block as the mode does: via its VTEP on vxlan.calico (felix's route,
// protocol 80, with its neighbour and fdb entries), via its address on tunl0 or eth0
// (BIRD's).
func (l Layout) Peer(_ *fixture.Cluster, _, peer *fixture.Node, h *netstack.Netstack) {
	dev := l.tunnelDevice()
	switch l.Mode {
	case VXLAN:
		vtep := peer.Subnet.Addr()
		h.Routes = append(h.Routes, netstack.Route{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: peer.Subnet, Gateway: vtep, Device: dev, OnLink: true, Flags: []string{"onlink"}, Protocol: "80"})
		h.Neighbours = append(h.Neighbours, netstack.Neighbour{Device: dev, IP: vtep, HardwareAddr: peer.MAC, State: "PERMANENT"})
		h.FDB = append(h.FDB, netstack.FDBEntry{Device: dev, HardwareAddr: peer.MAC, Dst: peer.IP, State: "permanent"})
	case IPIP:
		h.Routes = append(h.Routes, netstack.Route{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: peer.Subnet, Gateway: peer.IP, Device: dev, OnLink: true, Flags: []string{"onlink"}, Protocol: "bird"})
	default:
		h.Routes = append(h.Routes, netstack.Route{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: peer.Subnet, Gateway: peer.IP, Device: "eth0", Protocol: "bird"})
	}
}

// Pod lays the pod's cali veth with its /32 route, the neighbour entry of the pod and the
// proxy ARP that answers for the gateway; the pod routes everything to calico.Gateway.
func (l Layout) Pod(c *fixture.Cluster, p *fixture.Pod, h *netstack.Netstack) fixture.PodParts {
	mtu, iface, mac := l.podMTU(c), VethName(p.Namespace, p.Name), podMAC(p)
	h.Interfaces = append(h.Interfaces, netstack.Interface{Index: p.HostIf, Name: iface, Kind: "veth", MTU: mtu, Up: true, OperState: "up",
		HardwareAddr: calico.VethMAC, Veth: &netstack.VethAttrs{PeerIndex: 2, PeerNetNSID: 1}})
	h.Routes = append(h.Routes, netstack.Route{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: netip.PrefixFrom(p.IP, 32), Device: iface, Scope: "link"})
	h.Neighbours = append(h.Neighbours, netstack.Neighbour{Device: iface, IP: p.IP, HardwareAddr: mac, State: "REACHABLE"})
	h.Sysctls["ipv4/conf/"+iface+"/proxy_arp"] = "1"
	h.Sysctls["ipv4/conf/"+iface+"/forwarding"] = "1"
	h.Sysctls["ipv4/conf/"+iface+"/rp_filter"] = "1"
	return fixture.PodParts{
		Interface: netstack.Interface{Index: 2, Name: "eth0", Kind: "veth", MTU: mtu, Up: true, OperState: "up", HardwareAddr: mac,
			Addresses: []netip.Prefix{netip.PrefixFrom(p.IP, 32)}, Veth: &netstack.VethAttrs{PeerIndex: p.HostIf, PeerNetNSID: 0}},
		Routes: []netstack.Route{
			{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: calico.Gateway, Device: "eth0"},
			{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: netip.PrefixFrom(calico.Gateway, 32), Device: "eth0", Scope: "link"},
		},
		Neighbours: []netstack.Neighbour{{Device: "eth0", IP: calico.Gateway, HardwareAddr: calico.VethMAC, State: "PERMANENT"}},
	}
}

func podMAC(p *fixture.Pod) string {
	a := p.IP.As4()
	return fmt.Sprintf("5a:%02x:%02x:%02x:%02x:01", a[0], a[1], a[2], a[3])
}
