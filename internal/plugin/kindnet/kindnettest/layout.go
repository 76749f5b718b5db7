package kindnettest

import (
	"fmt"
	"net/netip"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/fixture/flowtest"
	"github.com/netdiag/netdiag/internal/fixture/ruleset"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin/kindnet"
)

// Image is the kindnetd image the clusters declare: kind v0.24.0's, the first release that
// enforces NetworkPolicy.
const Image = kindnet.Image + ":v20240813-c6f155d6"

// New starts a kindnet cluster of n nodes named node-0, node-1, ...: node i holds the pod
// CIDR 10.244.i.0/24 (its pods get .10, .11, ...; the host end of every pod veth holds .1).
func New(n int) *fixture.Cluster { return fixture.New(Layout{}, n) }

// TwoNodes is the flow tests' workload (flowtest.TwoNodes) on two kindnet nodes: client and
// web-0 on node-0 (10.244.0.0/24, InternalIP 172.18.1.2), web-1 and db (10.244.1.11) on
// node-1 (10.244.1.0/24, 172.18.1.3).
func TwoNodes() *fixture.Cluster { return flowtest.TwoNodes(New(2)) }

// Layout is kindnet's part of a cluster: what the ptp and host-local CNI plugins and
// kindnetd lay.
type Layout struct{}

var _ fixture.Layout = Layout{}

// Node keeps the node's pod CIDR as node IPAM gives it: kindnet has no IPAM of its own.
func (Layout) Node(int, *fixture.Node) {}

// DaemonSets is kind's kindnet DaemonSet.
func (Layout) DaemonSets(*fixture.Cluster) ([]appsv1.DaemonSet, []string) {
	return []appsv1.DaemonSet{DaemonSet(Image, fixture.ClusterCIDR)}, nil
}

// NodeObject: kindnetd writes nothing on the node; it reads its podCIDR and InternalIP.
func (Layout) NodeObject(*fixture.Cluster, *fixture.Node, *corev1.Node) {}

// Host: no device of kindnet's own; kind's nodes leave rp_filter off.
func (Layout) Host(*fixture.Cluster, *fixture.Node) fixture.HostParts {
	return fixture.HostParts{Sysctls: map[string]string{"ipv4/conf/all/rp_filter": "0", "ipv4/conf/eth0/rp_filter": "0"}}
}

// Peer is kindnetd's route to peer's pod CIDR via peer's InternalIP.
func (Layout) Peer(_ *fixture.Cluster, _, peer *fixture.Node, h *netstack.Netstack) {
	h.Routes = append(h.Routes, netstack.Route{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: peer.Subnet, Gateway: peer.IP, Device: "eth0"})
}

// Pod lays the pod's veth as ptp does: the host end holds the gateway (the pod CIDR's first
// address) as a /32 with a host-scope /32 route to the pod; in the pod, eth0 holds the
// address in the pod CIDR, the gateway is a link route, and the pod CIDR and the default
// route go via it.
func (Layout) Pod(c *fixture.Cluster, p *fixture.Pod, h *netstack.Netstack) fixture.PodParts {
	gw, veth, a := kindnet.Gateway(p.Node.Subnet), VethName(p.HostIf), p.IP.As4()
	h.Interfaces = append(h.Interfaces, netstack.Interface{Index: p.HostIf, Name: veth, Kind: "veth", MTU: c.UnderlayMTU, Up: true, OperState: "up",
		HardwareAddr: fmt.Sprintf("be:%02x:%02x:%02x:%02x:01", a[0], a[1], a[2], a[3]),
		Addresses:    []netip.Prefix{netip.PrefixFrom(gw, 32)}, Veth: &netstack.VethAttrs{PeerIndex: 2, PeerNetNSID: 1}})
	h.Routes = append(h.Routes, netstack.Route{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: netip.PrefixFrom(p.IP, 32), Device: veth, Scope: "host"})
	if p == p.Node.Pods[0] {
		// The kernel keeps one local route for an address however many interfaces hold it.
		h.Routes = append(h.Routes, fixture.LocalRoute(gw, veth))
	}
	return fixture.PodParts{
		Interface: netstack.Interface{Index: 2, Name: "eth0", Kind: "veth", MTU: c.UnderlayMTU, Up: true, OperState: "up",
			HardwareAddr: fmt.Sprintf("0a:58:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3]),
			Addresses:    []netip.Prefix{netip.PrefixFrom(p.IP, p.Node.Subnet.Bits())}, Veth: &netstack.VethAttrs{PeerIndex: p.HostIf, PeerNetNSID: 0}},
		Routes: []netstack.Route{
			{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: gw, Device: "eth0"},
			{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: p.Node.Subnet, Gateway: gw, Device: "eth0", Src: p.IP},
			{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: netip.PrefixFrom(gw, 32), Device: "eth0", Scope: "link", Src: p.IP},
		},
	}
}

// VethName is the host end of the pod veth whose host index is hostIf: "veth" and eight hex
// digits, as the CNI plugins name it (they draw the digits at random).
func VethName(hostIf int) string { return fmt.Sprintf("veth%08x", uint32(hostIf)*0x9e3779b1) }

// Rules writes kube-proxy's rules, then kindnetd's masquerade.
func (Layout) Rules(_ *fixture.Cluster, _ *fixture.Node, t *ruleset.Tables, kubeProxy func()) {
	kubeProxy()
	AddMasqRules(t, fixture.ClusterCIDR)
}

// IPSets: kindnet keeps none.
func (Layout) IPSets(*fixture.Cluster) string { return "" }

// AddMasqRules adds the nat chain kindnetd keeps: POSTROUTING jumps to KIND-MASQ-AGENT for
// non-local destinations, which returns for each pod subnet and masquerades the rest.
func AddMasqRules(t *ruleset.Tables, podSubnets ...netip.Prefix) {
	t.Chain("nat", kindnet.MasqChain)
	t.Rule("nat", `POSTROUTING -m addrtype ! --dst-type LOCAL -m comment --comment "kind-masq-agent" -j %s`, kindnet.MasqChain)
	for _, s := range podSubnets {
		t.Rule("nat", `%s -d %s -m comment --comment "kind-masq-agent" -j RETURN`, kindnet.MasqChain, s)
	}
	t.Rule("nat", `%s -m comment --comment "kind-masq-agent" -j MASQUERADE`, kindnet.MasqChain)
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

// HostVeth is the host end of a built pod's veth.
func HostVeth(c *fixture.Cluster, node, namespace, name string) *netstack.Interface {
	ps := c.PodStack(namespace, name)
	if ps == nil {
		return nil
	}
	eth0 := ps.InterfaceByName("eth0")
	if eth0 == nil || eth0.Veth == nil {
		return nil
	}
	return c.Host(node).InterfaceByIndex(eth0.Veth.PeerIndex)
}
