package flannel

import (
	"encoding/json"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin"
)

// Name is the plugin's name for provider.CreateNetwork and detection.
const Name = "flannel"

// Backends.
const (
	BackendAuto   = "auto"
	BackendVXLAN  = "vxlan"
	BackendHostGW = "host-gw"
)

// Node annotations flannel writes (flannel pkg/subnet/kube).
const (
	AnnotationBackendType = "flannel.alpha.coreos.com/backend-type"
	AnnotationBackendData = "flannel.alpha.coreos.com/backend-data"
	AnnotationPublicIP    = "flannel.alpha.coreos.com/public-ip"
)

// VXLANOverhead is what vxlan over IPv4 adds to every packet: outer IPv4 (20), UDP (8),
// vxlan (8) and the inner Ethernet header (14).
const VXLANOverhead = 50

// Plugin is flannel.
type Plugin struct {
	env *plugin.Env
	cfg Config
}

var _ plugin.Plugin = (*Plugin)(nil)

// New returns flannel on env with cfg.
func New(env *plugin.Env, cfg Config) *Plugin { return &Plugin{env: env, cfg: cfg} }

func (p *Plugin) Name() string         { return Name }
func (p *Plugin) EnforcesPolicy() bool { return false }

// CreatePod returns a veth pod on the cni0 bridge.
func (p *Plugin) CreatePod(pod *corev1.Pod) (plugin.NetNodeAction, error) {
	return plugin.NewVethPod(p.env, pod), nil
}

// CreateNode returns the node with flannel's intent.
func (p *Plugin) CreateNode(node *corev1.Node) (plugin.NetNodeAction, error) {
	return plugin.NewNode(p.env, node, &Node{plugin: p, node: node}), nil
}

// Node is flannel's SimplePluginNode for a node.
type Node struct {
	plugin.NodeDefaults
	plugin *Plugin
	node   *corev1.Node
	// checked avoids repeating the node-wide checks for every packet.
	checked bool
}

var _ plugin.SimplePluginNode = (*Node)(nil)

// Backend returns the backend flannel uses on node: the configured one, else the node's
// annotation, else vxlan when the node has flannel's vxlan device.
func (p *Plugin) Backend(node *corev1.Node, stack *netstack.Netstack) string {
	if p.cfg.Backend != "" && p.cfg.Backend != BackendAuto {
		return p.cfg.Backend
	}
	if node != nil {
		switch node.Annotations[AnnotationBackendType] {
		case BackendVXLAN:
			return BackendVXLAN
		case BackendHostGW:
			return BackendHostGW
		}
	}
	if vxlanDevice(stack, p.cfg.VXLANDevice) != nil {
		return BackendVXLAN
	}
	return BackendHostGW
}

func vxlanDevice(stack *netstack.Netstack, prefix string) *netstack.Interface {
	if stack == nil {
		return nil
	}
	for i := range stack.Interfaces {
		ifc := &stack.Interfaces[i]
		if ifc.Kind == "vxlan" && len(ifc.Name) > len(prefix) && ifc.Name[:len(prefix)+1] == prefix+"." {
			return ifc
		}
	}
	return nil
}

// publicIP is the address flannel uses for node: its annotation, else its InternalIP.
func publicIP(node *corev1.Node) (netip.Addr, bool) {
	if ip, err := netip.ParseAddr(node.Annotations[AnnotationPublicIP]); err == nil {
		return ip.Unmap(), true
	}
	return cluster.NodeInternalIP(node)
}

// subnetGateway is the address flannel's vxlan route to node uses as gateway: the network
// address of the node's subnet, held by its flannel.1.
func subnetGateway(node *corev1.Node) (netip.Addr, bool) {
	p, err := netip.ParsePrefix(node.Spec.PodCIDR)
	if err != nil {
		return netip.Addr{}, false
	}
	return p.Masked().Addr(), true
}

// ToPod: local pods by the bridge, remote ones to their node by the backend.
func (n *Node) ToPod(h *plugin.Hop, pod *corev1.Pod) (*plugin.Intent, error) {
	n.nodeChecks(h)
	return plugin.PodIntent(h, pod,
		func() *plugin.Intent {
			return &plugin.Intent{Next: plugin.PodNetNode(pod.Namespace, pod.Name, pod.Spec.NodeName), Device: n.plugin.cfg.Bridge, Why: "flannel bridges local pods on " + n.plugin.cfg.Bridge}
		},
		func(other *corev1.Node) *plugin.Intent { return n.toNodeSubnet(h, other) })
}

// toNodeSubnet is flannel's route to another node's pod subnet, by backend; it checks the MTU
// the backend needs.
func (n *Node) toNodeSubnet(h *plugin.Hop, other *corev1.Node) *plugin.Intent {
	backend := n.plugin.Backend(n.node, h.Stack)
	in := &plugin.Intent{Next: plugin.NodeNetNode(other.Name), Why: "flannel " + backend + " to " + other.Name}
	switch backend {
	case BackendVXLAN:
		if vx := vxlanDevice(h.Stack, n.plugin.cfg.VXLANDevice); vx != nil {
			in.Device = vx.Name
		} else {
			in.Device = n.plugin.cfg.VXLANDevice + ".1"
		}
		in.Gateway, _ = subnetGateway(other)
	default:
		if u := h.Underlay(); u != nil {
			in.Device = u.Name
		}
		in.Gateway, _ = publicIP(other)
	}
	n.checkPodMTU(h, backend)
	return in
}

// ToExternal: out of the underlay, masqueraded to the node's address so that the reply comes
// back (flannel's FLANNEL-POSTRTG chain).
func (n *Node) ToExternal(h *plugin.Hop) (*plugin.Intent, error) {
	if other := subnetOwner(h.Env.Cluster, h.Packet.Dst); other != nil {
		// An address of a node's pod subnet that no pod holds (a pod that is gone): flannel
		// routes by subnet, so it still means the node.
		if other.Name == n.node.Name {
			return &plugin.Intent{Next: h.NetNode, Device: n.plugin.cfg.Bridge, Why: "flannel bridges its own subnet on " + n.plugin.cfg.Bridge}, nil
		}
		return n.toNodeSubnet(h, other), nil
	}
	in := plugin.ExternalIntent(h)
	plugin.CheckMasqueraded(h, in, "-A FLANNEL-POSTRTG -s <cluster CIDR> ! -d <cluster CIDR> -j MASQUERADE",
		"flannel's masquerade rule", "is flanneld running with --ip-masq?")
	return in, nil
}

// nodeChecks runs once per node: the backend's device against the underlay's MTU.
func (n *Node) nodeChecks(h *plugin.Hop) {
	if n.checked || h.Stack == nil {
		return
	}
	n.checked = true
	if n.plugin.Backend(n.node, h.Stack) != BackendVXLAN {
		return
	}
	vx := vxlanDevice(h.Stack, n.plugin.cfg.VXLANDevice)
	if vx == nil {
		return
	}
	for _, s := range h.Assert().TunnelMTU(vx.Name) {
		h.Suspect(s)
	}
	plugin.CheckConfiguredMTU(h, vx, n.plugin.cfg.MTU, VXLANOverhead, "flannel's vxlan MTU (Backend.MTU)")
	if data := n.node.Annotations[AnnotationBackendData]; data != "" {
		var bd struct {
			VNI     int    `json:"VNI"`
			VtepMAC string `json:"VtepMAC"`
		}
		if err := json.Unmarshal([]byte(data), &bd); err == nil && bd.VtepMAC != "" && vx.HardwareAddr != "" && !strings.EqualFold(bd.VtepMAC, vx.HardwareAddr) {
			h.Suspectf(model.Warning, model.ReasonPathDiverges, vx.Name, "",
				"Node %s announces VTEP MAC %s in its %s annotation, but %s has %s: other nodes address the tunnel to a MAC this node does not answer (restart flanneld)",
				n.node.Name, bd.VtepMAC, AnnotationBackendData, vx.Name, vx.HardwareAddr)
		}
	}
}

// checkPodMTU checks that the sending pod's MTU fits the way flannel takes: the vxlan device
// for vxlan, the underlay for host-gw.
func (n *Node) checkPodMTU(h *plugin.Hop, backend string) {
	_, podIf, ok := plugin.SendingPod(h)
	if !ok {
		return
	}
	var way *netstack.Interface
	if backend == BackendVXLAN {
		way = vxlanDevice(h.Stack, n.plugin.cfg.VXLANDevice)
	} else {
		way = h.Underlay()
	}
	if way == nil {
		return
	}
	for _, s := range h.Assert().MTU(way.Name, podIf.MTU) {
		h.Suspect(s)
	}
}

// subnetOwner returns the node whose pod subnet holds addr, or nil.
func subnetOwner(snap *cluster.Snapshot, addr netip.Addr) *corev1.Node {
	for i := range snap.Nodes {
		if p, err := netip.ParsePrefix(snap.Nodes[i].Spec.PodCIDR); err == nil && p.Contains(addr) {
			return &snap.Nodes[i]
		}
	}
	return nil
}
