package calico

import (
	"crypto/sha1"
	"encoding/hex"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/plugin/hop"
	cpolicy "github.com/netdiag/netdiag/internal/policy/calico"
)

// Name is the plugin's name for provider.CreateNetwork and detection.
const Name = "calico"

// Modes: how calico carries pod traffic between nodes.
const (
	ModeAuto = "auto"
	// ModeRouted: no encapsulation; BIRD installs each peer's block via the peer's address.
	ModeRouted = "routed"
	// ModeVXLAN: felix routes each peer's block via the peer's VTEP on vxlan.calico.
	ModeVXLAN = "vxlan"
	// ModeIPIP: BIRD routes each peer's block via the peer's address on tunl0.
	ModeIPIP = "ipip"
)

// What calico lays on every node and in every pod.
const (
	// DefaultVXLANDevice is felix's vxlan device (VNI 4096, UDP 4789).
	DefaultVXLANDevice = "vxlan.calico"
	// DefaultIPIPDevice is the kernel's fallback IP-in-IP device that calico uses.
	DefaultIPIPDevice = "tunl0"
	// DefaultInterfacePrefix is the prefix of the host end of a pod's veth
	// (FELIX_INTERFACEPREFIX).
	DefaultInterfacePrefix = "cali"
	// VethMAC is the address calico's CNI plugin gives the host end of every pod veth, so
	// that a pod's neighbour entry for its gateway is the same everywhere.
	VethMAC = "ee:ee:ee:ee:ee:ee"
)

// Gateway is the pod's default gateway: a link-local address nothing holds, answered by
// proxy ARP on the host end of the veth.
var Gateway = netip.AddrFrom4([4]byte{169, 254, 1, 1})

// Encapsulation overheads over IPv4, which the pod MTU must leave room for.
const (
	// VXLANOverhead: outer IPv4 (20), UDP (8), vxlan (8), inner Ethernet (14).
	VXLANOverhead = 50
	// IPIPOverhead: the outer IPv4 header.
	IPIPOverhead = 20
)

// Node annotations calico-node writes.
const (
	AnnotationIPv4Address     = "projectcalico.org/IPv4Address"
	AnnotationVXLANTunnelAddr = "projectcalico.org/IPv4VXLANTunnelAddr"
	AnnotationIPIPTunnelAddr  = "projectcalico.org/IPv4IPIPTunnelAddr"
)

// Environment variables of the calico-node container that settle the data plane.
const (
	EnvNetworkingBackend = "CALICO_NETWORKING_BACKEND"
	EnvPoolVXLAN         = "CALICO_IPV4POOL_VXLAN"
	EnvPoolIPIP          = "CALICO_IPV4POOL_IPIP"
	EnvPoolNATOutgoing   = "CALICO_IPV4POOL_NAT_OUTGOING"
	EnvInterfacePrefix   = "FELIX_INTERFACEPREFIX"
)

// Plugin is calico.
type Plugin struct {
	env *plugin.Env
	cfg Config
	ds  dsConfig
	// model is Calico's policy model of the snapshot.
	model *cpolicy.Model
}

var _ plugin.Plugin = (*Plugin)(nil)

// New returns calico on env with cfg. The calico-node DaemonSet of the snapshot fills what
// cfg leaves open.
func New(env *plugin.Env, cfg Config) *Plugin {
	p := &Plugin{env: env, cfg: cfg}
	if env != nil && env.Cluster != nil {
		p.ds = readDaemonSet(env.Cluster)
		p.model = cpolicy.New(env.Cluster)
	}
	if p.cfg.InterfacePrefix == "" {
		p.cfg.InterfacePrefix = DefaultInterfacePrefix
		if p.ds.interfacePrefix != "" {
			p.cfg.InterfacePrefix = p.ds.interfacePrefix
		}
	}
	if p.cfg.VXLANDevice == "" {
		p.cfg.VXLANDevice = DefaultVXLANDevice
	}
	return p
}

func (p *Plugin) Name() string { return Name }

// EnforcesPolicy is true: felix turns every NetworkPolicy into cali-* chains.
func (p *Plugin) EnforcesPolicy() bool { return true }

// CreatePod returns a pod on a /32 veth whose gateway is 169.254.1.1: the frames it sends
// must reach the host end of the veth, and felix's marks do not leave the namespace.
func (p *Plugin) CreatePod(pod *corev1.Pod) (plugin.NetNodeAction, error) {
	b := plugin.NewVethPod(p.env, pod)
	cp := &Pod{VethPod: plugin.VethPod{Pod: pod}, plugin: p}
	b.Simple = cp
	b.Ext.Emitting = []func(*plugin.Hop, *plugin.Transmission) bool{cp.checkGateway, scrubMark}
	b.Ext.Policy = cp.policy
	return b, nil
}

// CreateNode returns the node with calico's intent, its IP-in-IP device, and its
// explanations of the blackholes of its blocks and of the drops by felix's chains.
func (p *Plugin) CreateNode(node *corev1.Node) (plugin.NetNodeAction, error) {
	n := &Node{plugin: p, node: node}
	b := plugin.NewNode(p.env, node, n)
	b.Ext = plugin.Extensions{
		Devices:            map[string]hop.Device{"ipip": ipip{plugin: p}},
		ExplainDrop:        n.explainDrop,
		ExplainRouteReject: n.explainBlackhole,
		Emitting:           []func(*plugin.Hop, *plugin.Transmission) bool{scrubMark},
	}
	return b, nil
}

// dsConfig is what calico-node's container environment says.
type dsConfig struct {
	found           bool
	backend         string
	poolVXLAN       string
	poolIPIP        string
	natOutgoing     string
	interfacePrefix string
}

// readDaemonSet reads the environment of the calico-node container.
func readDaemonSet(s *cluster.Snapshot) dsConfig {
	var c dsConfig
	for i := range s.DaemonSets {
		ds := &s.DaemonSets[i]
		for _, ctr := range ds.Spec.Template.Spec.Containers {
			if ctr.Name != "calico-node" && !strings.Contains(ctr.Image, "calico/node") {
				continue
			}
			c.found = true
			for _, e := range ctr.Env {
				switch e.Name {
				case EnvNetworkingBackend:
					c.backend = strings.ToLower(e.Value)
				case EnvPoolVXLAN:
					c.poolVXLAN = strings.ToLower(e.Value)
				case EnvPoolIPIP:
					c.poolIPIP = strings.ToLower(e.Value)
				case EnvPoolNATOutgoing:
					c.natOutgoing = strings.ToLower(e.Value)
				case EnvInterfacePrefix:
					// Felix accepts a comma-separated list; the CNI plugin names veths after the first.
					c.interfacePrefix, _, _ = strings.Cut(e.Value, ",")
				}
			}
			return c
		}
	}
	return c
}

// encapMode is the encapsulation the DaemonSet's pool asks for, with whether it only
// applies across subnets.
func (c dsConfig) encapMode() (mode string, crossSubnet bool) {
	switch {
	case c.backend == "vxlan", c.poolVXLAN == "always":
		return ModeVXLAN, false
	case c.poolVXLAN == "crosssubnet":
		return ModeVXLAN, true
	case c.poolIPIP == "always":
		return ModeIPIP, false
	case c.poolIPIP == "crosssubnet":
		return ModeIPIP, true
	}
	return ModeRouted, false
}

// natOutgoing reports whether the pool masquerades traffic that leaves it (calico's
// default).
func (c dsConfig) natOutgoingOn() bool { return c.natOutgoing != "false" }

// Mode returns how calico carries traffic from node to its peers: the configured mode,
// else what the node's devices show (vxlan.calico; tunl0 with routes on it), else the
// node's tunnel annotations, else calico-node's environment, else routed. crossSubnet is
// set when the pool encapsulates only towards peers in another subnet.
func (p *Plugin) Mode(node *corev1.Node, stack *netstack.Netstack) (mode string, crossSubnet bool) {
	if p.cfg.Mode != "" && p.cfg.Mode != ModeAuto {
		return p.cfg.Mode, false
	}
	envMode, envCross := p.ds.encapMode()
	if p.vxlanDevice(stack) != nil {
		return ModeVXLAN, envCross && envMode == ModeVXLAN
	}
	if ipipDevice(stack) != nil && routesBy(stack, ipipDevice(stack).Name) {
		return ModeIPIP, envCross && envMode == ModeIPIP
	}
	if node != nil {
		if node.Annotations[AnnotationVXLANTunnelAddr] != "" {
			return ModeVXLAN, envCross && envMode == ModeVXLAN
		}
		if node.Annotations[AnnotationIPIPTunnelAddr] != "" {
			return ModeIPIP, envCross && envMode == ModeIPIP
		}
	}
	return envMode, envCross
}

func (p *Plugin) vxlanDevice(stack *netstack.Netstack) *netstack.Interface {
	if stack == nil {
		return nil
	}
	if ifc := stack.InterfaceByName(p.cfg.VXLANDevice); ifc != nil && ifc.Kind == "vxlan" {
		return ifc
	}
	return nil
}

// ipipDevice is the IP-in-IP device calico routes by: tunl0, else any ipip device.
func ipipDevice(stack *netstack.Netstack) *netstack.Interface {
	if stack == nil {
		return nil
	}
	if ifc := stack.InterfaceByName(DefaultIPIPDevice); ifc != nil {
		return ifc
	}
	for i := range stack.Interfaces {
		if stack.Interfaces[i].Kind == "ipip" {
			return &stack.Interfaces[i]
		}
	}
	return nil
}

func routesBy(stack *netstack.Netstack, dev string) bool {
	for _, r := range stack.Routes {
		if r.Table == netstack.TableMain && r.Device == dev {
			return true
		}
	}
	return false
}

// VethName is the name calico's CNI plugin gives the host end of a pod's veth: the prefix
// and the first 11 hex digits of the SHA-1 of "namespace.name" (libcalico-go's
// VethNameForWorkload).
func VethName(prefix, namespace, name string) string {
	sum := sha1.Sum([]byte(namespace + "." + name))
	return prefix + hex.EncodeToString(sum[:])[:11]
}

// Blocks returns the IPAM blocks a node holds: calico installs a blackhole route for each
// block affine to the node, so the node's own state names them; without it, the node's pod
// CIDRs (calico IPAM with usePodCidr, or host-local).
func Blocks(node *corev1.Node, stack *netstack.Netstack) []netip.Prefix {
	var out []netip.Prefix
	if stack != nil {
		for _, r := range stack.Routes {
			if r.Type == netstack.RouteBlackhole && r.Table == netstack.TableMain && r.Dst.Addr().Is4() && r.Dst.Bits() > 0 && r.Dst.Bits() < 32 {
				out = append(out, r.Dst.Masked())
			}
		}
	}
	if len(out) > 0 || node == nil {
		return out
	}
	cidrs := node.Spec.PodCIDRs
	if len(cidrs) == 0 && node.Spec.PodCIDR != "" {
		cidrs = []string{node.Spec.PodCIDR}
	}
	for _, c := range cidrs {
		if pr, err := netip.ParsePrefix(c); err == nil && pr.Addr().Is4() {
			out = append(out, pr.Masked())
		}
	}
	return out
}

// blockOf returns the block of node that holds ip.
func blockOf(node *corev1.Node, stack *netstack.Netstack, ip netip.Addr) (netip.Prefix, bool) {
	for _, b := range Blocks(node, stack) {
		if b.Contains(ip) {
			return b, true
		}
	}
	return netip.Prefix{}, false
}

// nodeAddress is the address calico peers with: its IPv4Address annotation, else the
// node's InternalIP.
func nodeAddress(node *corev1.Node) (netip.Addr, bool) {
	if v := node.Annotations[AnnotationIPv4Address]; v != "" {
		if pr, err := netip.ParsePrefix(v); err == nil {
			return pr.Addr().Unmap(), true
		}
		if a, err := netip.ParseAddr(v); err == nil {
			return a.Unmap(), true
		}
	}
	return cluster.NodeInternalIP(node)
}

// vtepAddress is the address of a node's vxlan.calico: its annotation, else the address its
// device holds in its snapshot.
func (p *Plugin) vtepAddress(node *corev1.Node) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(node.Annotations[AnnotationVXLANTunnelAddr]); err == nil {
		return a.Unmap(), true
	}
	if vx := p.vxlanDevice(p.env.NodeStack(node.Name)); vx != nil && len(vx.Addresses) > 0 {
		return vx.Addresses[0].Addr(), true
	}
	return netip.Addr{}, false
}

func sameMAC(a, b string) bool { return strings.EqualFold(a, b) }
