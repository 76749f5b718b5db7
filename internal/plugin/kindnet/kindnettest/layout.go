package kindnettest

import (
	"fmt"
	"net/netip"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin/kindnet"
)

// Image is the kindnetd image the clusters declare: kind v0.24.0's, the first release that
// enforces NetworkPolicy.
const Image = kindnet.Image + ":v20240813-c6f155d6"

// Node is one node as kindnet's layout needs it.
type Node struct {
	Name    string
	IP      netip.Addr
	PodCIDR netip.Prefix
	// Underlay is the node's eth0 (its address, MTU and MAC).
	Underlay netstack.Interface
	Pods     []Pod
}

// Pod is one pod of a node.
type Pod struct {
	Namespace, Name string
	IP              netip.Addr
	// HostIndex and HostVeth are the ifindex and name of the host end of its veth.
	HostIndex int
	HostVeth  string
	HostMAC   string
	// Listening are the pod's sockets.
	Listening []netstack.Socket
}

// HostState is a node's own namespace as ptp, host-local and kindnetd leave it: no bridge,
// the pod gateway as a /32 on the host end of every pod veth, a host-scope /32 route per
// local pod, a route per peer's pod CIDR via the peer's InternalIP, and the iptables rules
// given (kube-proxy's and MasqRules).
func HostState(n Node, peers []Node, iptablesSave string) netstack.Netstack {
	gw := kindnet.Gateway(n.PodCIDR)
	under := n.Underlay
	h := netstack.Netstack{
		Sysctls: map[string]string{
			"ipv4/ip_forward":           "1",
			"ipv4/conf/all/forwarding":  "1",
			"ipv4/conf/eth0/forwarding": "1",
			"ipv4/conf/all/rp_filter":   "0",
			"ipv4/conf/eth0/rp_filter":  "0",
		},
		IPTablesBackend: "nft",
		IPTables:        iptablesSave,
		Listening:       []netstack.Socket{{Protocol: "TCP", Address: netip.MustParseAddrPort("0.0.0.0:22")}, {Protocol: "TCP", Address: netip.MustParseAddrPort("0.0.0.0:10250")}},
	}
	h.Interfaces = []netstack.Interface{
		{Index: 1, Name: "lo", Kind: "loopback", MTU: 65536, Up: true, OperState: "unknown", Addresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
		under,
	}
	var underBits int
	if len(under.Addresses) > 0 {
		underBits = under.Addresses[0].Bits()
	}
	underlay := netip.PrefixFrom(n.IP, underBits).Masked()
	h.Routes = []netstack.Route{
		{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: underlay.Addr().Next(), Device: under.Name, Protocol: "static"},
		{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: underlay, Device: under.Name, Scope: "link", Src: n.IP, Protocol: "kernel"},
		{Table: netstack.TableLocal, Type: netstack.RouteLocal, Dst: netip.MustParsePrefix("127.0.0.0/8"), Device: "lo", Scope: "host", Src: netip.MustParseAddr("127.0.0.1"), Protocol: "kernel"},
		{Table: netstack.TableLocal, Type: netstack.RouteLocal, Dst: netip.MustParsePrefix("127.0.0.1/32"), Device: "lo", Scope: "host", Src: netip.MustParseAddr("127.0.0.1"), Protocol: "kernel"},
		{Table: netstack.TableLocal, Type: netstack.RouteLocal, Dst: netip.PrefixFrom(n.IP, 32), Device: under.Name, Scope: "host", Src: n.IP, Protocol: "kernel"},
	}
	for i, p := range n.Pods {
		h.Interfaces = append(h.Interfaces, netstack.Interface{Index: p.HostIndex, Name: p.HostVeth, Kind: "veth", MTU: under.MTU, Up: true, OperState: "up",
			HardwareAddr: p.HostMAC, Addresses: []netip.Prefix{netip.PrefixFrom(gw, 32)}, Veth: &netstack.VethAttrs{PeerIndex: 2, PeerNetNSID: 1}})
		h.Routes = append(h.Routes, netstack.Route{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: netip.PrefixFrom(p.IP, 32), Device: p.HostVeth, Scope: "host"})
		if i == 0 {
			// The kernel keeps one local route for an address however many interfaces hold it.
			h.Routes = append(h.Routes, netstack.Route{Table: netstack.TableLocal, Type: netstack.RouteLocal, Dst: netip.PrefixFrom(gw, 32), Device: p.HostVeth, Scope: "host", Src: gw, Protocol: "kernel"})
		}
	}
	for _, peer := range peers {
		if peer.Name == n.Name {
			continue
		}
		h.Routes = append(h.Routes, netstack.Route{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: peer.PodCIDR, Gateway: peer.IP, Device: under.Name})
	}
	return h
}

// PodState is a pod's namespace as ptp leaves it: eth0 with the pod's address in the pod
// CIDR, a link route to the gateway, the pod CIDR and the default route via the gateway.
func PodState(p Pod, n Node) netstack.Netstack {
	gw := kindnet.Gateway(n.PodCIDR)
	return netstack.Netstack{
		Pod:   &netstack.PodRef{Namespace: p.Namespace, Name: p.Name, IP: p.IP},
		NetNS: "/var/run/netns/cni-" + p.Name,
		Interfaces: []netstack.Interface{
			{Index: 1, Name: "lo", Kind: "loopback", MTU: 65536, Up: true, OperState: "unknown", Addresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
			{Index: 2, Name: "eth0", Kind: "veth", MTU: n.Underlay.MTU, Up: true, OperState: "up",
				HardwareAddr: fmt.Sprintf("0a:58:%02x:%02x:%02x:%02x", p.IP.As4()[0], p.IP.As4()[1], p.IP.As4()[2], p.IP.As4()[3]),
				Addresses:    []netip.Prefix{netip.PrefixFrom(p.IP, n.PodCIDR.Bits())}, Veth: &netstack.VethAttrs{PeerIndex: p.HostIndex, PeerNetNSID: 0}},
		},
		Routes: []netstack.Route{
			{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: gw, Device: "eth0"},
			{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: n.PodCIDR, Gateway: gw, Device: "eth0", Src: p.IP},
			{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: netip.PrefixFrom(gw, 32), Device: "eth0", Scope: "link", Src: p.IP},
			{Table: netstack.TableLocal, Type: netstack.RouteLocal, Dst: netip.MustParsePrefix("127.0.0.0/8"), Device: "lo", Scope: "host", Src: netip.MustParseAddr("127.0.0.1"), Protocol: "kernel"},
			{Table: netstack.TableLocal, Type: netstack.RouteLocal, Dst: netip.PrefixFrom(p.IP, 32), Device: "eth0", Scope: "host", Src: p.IP, Protocol: "kernel"},
		},
		Sysctls:   map[string]string{"ipv4/ip_forward": "0", "ipv4/conf/all/rp_filter": "0", "ipv4/conf/eth0/rp_filter": "0"},
		Listening: p.Listening,
	}
}

// MasqRules are the nat chain and rules kindnetd keeps: POSTROUTING jumps to KIND-MASQ-AGENT
// for non-local destinations, which returns for each pod subnet and masquerades the rest.
// chains are the chains to declare, rules the text after "-A ".
func MasqRules(podSubnets ...netip.Prefix) (chains, rules []string) {
	chains = []string{kindnet.MasqChain}
	rules = append(rules, fmt.Sprintf(`POSTROUTING -m addrtype ! --dst-type LOCAL -m comment --comment "kind-masq-agent" -j %s`, kindnet.MasqChain))
	for _, s := range podSubnets {
		rules = append(rules, fmt.Sprintf(`%s -d %s -m comment --comment "kind-masq-agent" -j RETURN`, kindnet.MasqChain, s))
	}
	rules = append(rules, fmt.Sprintf(`%s -m comment --comment "kind-masq-agent" -j MASQUERADE`, kindnet.MasqChain))
	return chains, rules
}

// DaemonSet is kind's kindnet DaemonSet with image and the pod subnet kind passes it.
func DaemonSet(image string, podSubnet netip.Prefix) appsv1.DaemonSet {
	ds := appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: kindnet.DaemonSet,
		Labels: map[string]string{"app": "kindnet", "k8s-app": "kindnet", "tier": "node"}}}
	ds.Spec.Template.Spec.HostNetwork = true
	ds.Spec.Template.Spec.Containers = []corev1.Container{{Name: kindnet.Container, Image: image,
		Env: []corev1.EnvVar{{Name: kindnet.EnvPodSubnet, Value: podSubnet.String()}}}}
	return ds
}
