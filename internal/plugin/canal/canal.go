package canal

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/plugin/calico"
	"github.com/netdiag/netdiag/internal/plugin/flannel"
)

// Name is the plugin's name for provider.CreateNetwork and detection.
const Name = "canal"

// What the canal manifest and RKE2 install.
const (
	// DaemonSet is the manifest's DaemonSet in kube-system; RKE2DaemonSet is RKE2's, whose
	// chart (rke2-canal) keeps the name of the manifest's.
	DaemonSet     = "canal"
	RKE2DaemonSet = "rke2-canal"
	// CalicoContainer and FlannelContainer are the DaemonSet's two agents.
	CalicoContainer  = "calico-node"
	FlannelContainer = "kube-flannel"
)

// Plugin is canal: calico's pods and policy, flannel's way between nodes.
type Plugin struct {
	calico  *calico.Plugin
	flannel *flannel.Plugin
}

var _ plugin.Plugin = (*Plugin)(nil)

// New returns canal on env with cfg.
func New(env *plugin.Env, cfg Config) *Plugin {
	fc := flannel.NewConfig()
	fc.Backend, fc.VXLANDevice, fc.MTU = cfg.Backend, cfg.VXLANDevice, cfg.MTU
	cc := calico.NewConfig()
	// Felix routes nothing between nodes in canal: flannel does.
	cc.Mode, cc.InterfacePrefix = calico.ModeRouted, cfg.InterfacePrefix
	return &Plugin{calico: calico.New(env, *cc), flannel: flannel.New(env, *fc)}
}

func (p *Plugin) Name() string { return Name }

// EnforcesPolicy is true: felix turns every NetworkPolicy into cali-* chains.
func (p *Plugin) EnforcesPolicy() bool { return true }

// CreatePod is calico's pod: a /32 veth whose gateway 169.254.1.1 is answered by proxy ARP.
func (p *Plugin) CreatePod(pod *corev1.Pod) (plugin.NetNodeAction, error) {
	return p.calico.CreatePod(pod)
}

// CreateNode is calico's node hop (its explainers of felix's drops) with canal's intent.
func (p *Plugin) CreateNode(node *corev1.Node) (plugin.NetNodeAction, error) {
	ca, err := p.calico.CreateNode(node)
	if err != nil {
		return nil, fmt.Errorf("canal node %s: %w", node.Name, err)
	}
	fl, err := p.flannel.CreateNode(node)
	if err != nil {
		return nil, fmt.Errorf("canal node %s: %w", node.Name, err)
	}
	b, ok := ca.(*plugin.BasePluginNode)
	fb, fok := fl.(*plugin.BasePluginNode)
	if !ok || !fok {
		return nil, fmt.Errorf("canal node %s: calico's or flannel's node is not a BasePluginNode", node.Name)
	}
	b.Simple = &Node{calico: b.Simple, flannel: fb.Simple, node: node}
	return b, nil
}

// Node is canal's intent on a node: calico's for the node's own pods, flannel's for
// everything else.
type Node struct {
	calico, flannel plugin.SimplePluginNode
	node            *corev1.Node
}

var _ plugin.SimplePluginNode = (*Node)(nil)

// ToPod: a local pod by its cali veth (calico's /32 route), any other by flannel.
func (n *Node) ToPod(h *plugin.Hop, pod *corev1.Pod) (*plugin.Intent, error) {
	if !pod.Spec.HostNetwork && pod.Spec.NodeName == h.Node {
		in, err := n.calico.ToPod(h, pod)
		if err == nil && in != nil {
			n.checkPodRoute(h, pod, in.Device)
		}
		return in, err
	}
	return n.flannel.ToPod(h, pod)
}

// checkPodRoute reports a local pod whose /32 route to its veth is gone: calico's CNI
// plugin lays it, and canal has no blackhole for the pod CIDR, so the packet follows the
// node's default route out of the cluster.
func (n *Node) checkPodRoute(h *plugin.Hop, pod *corev1.Pod, veth string) {
	if h.Stack == nil || h.Stack.InterfaceByName(veth) == nil {
		return
	}
	if r := h.Stack.LookupRoute(netstack.RouteQuery{Dst: h.Packet.Dst}); r.Device == veth {
		return
	}
	h.Suspectf(model.Critical, model.ReasonRouteMissing, veth, "",
		"%s has no route for pod %s/%s (%s dev %s scope link), so its packets follow the node's other routes: calico's CNI plugin lays it when the pod starts (recreate the pod, and check the CNI log /var/log/calico/cni/cni.log on %s)",
		n.node.Name, pod.Namespace, pod.Name, h.Packet.Dst, veth, n.node.Name)
}

func (n *Node) ToHost(h *plugin.Hop, other *corev1.Node) (*plugin.Intent, error) {
	return n.flannel.ToHost(h, other)
}

func (n *Node) ToService(h *plugin.Hop, svc *corev1.Service) (*plugin.Intent, error) {
	return n.flannel.ToService(h, svc)
}

// ToExternal is flannel's (another node's subnet, else out masqueraded), except for an
// unused address of this node's own pod CIDR: flannel would bridge it, canal has no bridge
// and no route for it but the pods' own /32s, so there is nothing to compare.
func (n *Node) ToExternal(h *plugin.Hop) (*plugin.Intent, error) {
	if cidr, err := netip.ParsePrefix(n.node.Spec.PodCIDR); err == nil && cidr.Contains(h.Packet.Dst) {
		return nil, nil
	}
	return n.flannel.ToExternal(h)
}

func (n *Node) Serve(h *plugin.Hop) error { return n.flannel.Serve(h) }
