package plugin

import (
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/model"
)

// VethPod is the pod of every plugin that wires pods with a veth pair whose host end lives
// in the node: whatever the destination, the pod sends it to its node by eth0.
type VethPod struct {
	Pod *corev1.Pod
	// Interface is the pod's end of the pair; eth0 when empty.
	Interface string
}

var _ SimplePluginNode = (*VethPod)(nil)

// NewVethPod returns the action of a veth-wired pod.
func NewVethPod(env *Env, pod *corev1.Pod) *BasePluginNode {
	return &BasePluginNode{
		NetNode: PodNetNode(pod.Namespace, pod.Name, pod.Spec.NodeName),
		Env:     env,
		Simple:  &VethPod{Pod: pod},
		Node:    pod.Spec.NodeName,
		Pod:     pod,
	}
}

// NewNode returns the action of a node whose plugin says what it means by simple.
func NewNode(env *Env, node *corev1.Node, simple SimplePluginNode) *BasePluginNode {
	return &BasePluginNode{NetNode: NodeNetNode(node.Name), Env: env, Simple: simple, Node: node.Name}
}

func (v *VethPod) toNode(h *Hop) *Intent {
	dev := v.Interface
	if dev == "" {
		dev = "eth0"
	}
	return &Intent{Next: NodeNetNode(v.Pod.Spec.NodeName), Device: dev, Why: "a pod sends everything to its node"}
}

// ToPod sends to the node, or delivers locally to itself.
func (v *VethPod) ToPod(h *Hop, pod *corev1.Pod) (*Intent, error) {
	if pod.Namespace == v.Pod.Namespace && pod.Name == v.Pod.Name {
		return &Intent{Next: h.NetNode}, nil
	}
	return v.toNode(h), nil
}

func (v *VethPod) ToHost(h *Hop, _ *corev1.Node) (*Intent, error)       { return v.toNode(h), nil }
func (v *VethPod) ToService(h *Hop, _ *corev1.Service) (*Intent, error) { return v.toNode(h), nil }
func (v *VethPod) ToExternal(h *Hop) (*Intent, error)                   { return v.toNode(h), nil }

// Serve checks that a socket of the pod takes the packet.
func (v *VethPod) Serve(h *Hop) error {
	CheckListening(h)
	return nil
}

// CheckListening reports NotListening when the namespace's sockets are known and none takes
// the packet's protocol and port. ICMP is answered by the kernel.
func CheckListening(h *Hop) {
	pkt := h.Packet
	if pkt.Protocol == model.ICMP {
		return
	}
	if h.Stack == nil {
		h.Suspectf(model.Info, model.ReasonSnapshotMissing, "", "", "The sockets of %s were not collected, so whether something listens on %s %d is not checked", h.NetNode.Name, pkt.Protocol, pkt.DstPort)
		return
	}
	if h.Stack.PartError("listening") != nil {
		return
	}
	if len(h.Stack.Listening) == 0 {
		h.Suspectf(model.Info, model.ReasonNotListening, "", "", "The snapshot of %s lists no listening sockets, so whether something listens on %s %d is not checked", h.NetNode.Name, pkt.Protocol, pkt.DstPort)
		return
	}
	sus := h.Assert().Listening(pkt.Protocol, netip.AddrPortFrom(pkt.Dst, pkt.DstPort))
	for _, s := range sus {
		h.Suspect(s)
	}
	if len(sus) > 0 {
		return
	}
	// The explanation names the socket that takes the packet.
	for _, s := range h.Stack.Listening {
		if strings.EqualFold(s.Protocol, string(pkt.Protocol)) && s.Address.Port() == pkt.DstPort &&
			(s.Address.Addr().IsUnspecified() || s.Address.Addr().Unmap() == pkt.Dst) {
			h.Step("socket", "listening", s.Address.String())
			return
		}
	}
}
