package plugin

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin/hop"
)

// The helpers below are the parts of a node's SimplePluginNode that do not depend on the
// plugin: every plugin delivers a host-network pod as its node, reaches other nodes' own
// addresses and the world outside the cluster over the underlay, and has a sending pod's
// MTU to check against the way it chose. They are for the hop of a node, not of a pod.

// NodeDefaults is what a node says where its plugin has nothing of its own to add: node
// addresses are reached over the underlay (HostIntent), a service address left untranslated
// has no intent (the service processor the hop consults says why), and a packet delivered
// to the node must find a listening socket. A plugin's node embeds it and writes ToPod and
// ToExternal, and whichever of these it means differently.
type NodeDefaults struct{}

// ToHost is HostIntent.
func (NodeDefaults) ToHost(h *Hop, other *corev1.Node) (*Intent, error) {
	return HostIntent(h, other), nil
}

// ToService has no intent for a virtual address.
func (NodeDefaults) ToService(*Hop, *corev1.Service) (*Intent, error) { return nil, nil }

// Serve checks the node's sockets.
func (NodeDefaults) Serve(h *Hop) error {
	CheckListening(h)
	return nil
}

// HostIntent is a node's intent towards a node's address: delivered here for its own, over
// the underlay for another's.
func HostIntent(h *Hop, other *corev1.Node) *Intent {
	if other.Name == h.Node {
		return &Intent{Next: h.NetNode}
	}
	return overUnderlay(h, &Intent{Next: NodeNetNode(other.Name), Why: "node addresses are reached over the underlay"})
}

// PodIntent is a node's intent towards pod: a host-network pod is its node's address
// (HostIntent); local says how the plugin reaches a pod on this node, remote how it reaches
// one on another node. A pod on a node the snapshot does not hold is an error.
func PodIntent(h *Hop, pod *corev1.Pod, local func() *Intent, remote func(other *corev1.Node) *Intent) (*Intent, error) {
	if pod.Spec.HostNetwork {
		if other := h.Env.Cluster.Node(pod.Spec.NodeName); other != nil {
			return HostIntent(h, other), nil
		}
		return nil, nil
	}
	if pod.Spec.NodeName == h.Node {
		return local(), nil
	}
	other := h.Env.Cluster.Node(pod.Spec.NodeName)
	if other == nil {
		return nil, fmt.Errorf("pod %s/%s runs on node %s, which is not in the snapshot", pod.Namespace, pod.Name, pod.Spec.NodeName)
	}
	return remote(other), nil
}

// ExternalIntent is a node's intent towards an address outside the cluster: out by the
// underlay.
func ExternalIntent(h *Hop) *Intent {
	return overUnderlay(h, &Intent{Next: ExternalNetNode(h.Packet.Dst), Why: "traffic out of the cluster leaves by the underlay"})
}

func overUnderlay(h *Hop, in *Intent) *Intent {
	if u := h.Underlay(); u != nil {
		in.Device = u.Name
	}
	return in
}

// Unmasqueraded reports whether the packet at h still carries a pod's address as source, so
// that leaving the cluster it could not be answered. A plugin whose hint for
// CheckMasqueraded takes work to find asks this first.
func Unmasqueraded(h *Hop) bool {
	ep, ok := h.Env.Cluster.IPCache().Lookup(h.Packet.Src)
	return ok && ep.Type == model.EndpointPod
}

// CheckMasqueraded reports a packet that leaves the cluster by in with a pod's address as
// source: the plugin's masquerade rule (rule as it is written, what in words) did not apply,
// and no reply can come back to an address only the cluster routes. hint says what to look at.
func CheckMasqueraded(h *Hop, in *Intent, rule, what, hint string) {
	if Unmasqueraded(h) {
		h.Suspectf(model.Critical, model.ReasonMasqueradeMissing, in.Device, rule,
			"The packet leaves %s for %s with the pod address %s as source: %s did not apply, so replies from outside cannot find their way back (%s)",
			h.Node, h.Packet.Dst, h.Packet.Src, what, hint)
	}
}

// SendingPod returns the pod that sent the packet to this node over its veth and the pod's
// interface that holds the source address, for the plugins' MTU checks; ok is false when the
// packet did not come straight from a pod or the pod's namespace was not collected.
func SendingPod(h *Hop) (ep model.Endpoint, podIf *netstack.Interface, ok bool) {
	if h.In == nil || h.In.From == nil || h.In.From.Type != model.NetNodePod || h.Stack == nil {
		return model.Endpoint{}, nil, false
	}
	ep, ok = h.Env.Cluster.IPCache().Lookup(h.In.Packet.Src)
	if !ok || ep.Type != model.EndpointPod {
		return model.Endpoint{}, nil, false
	}
	podIf = hop.InterfaceWithAddr(h.Env.PodStack(ep.Namespace, ep.Name), ep.IP)
	if podIf == nil {
		return model.Endpoint{}, nil, false
	}
	return ep, podIf, true
}
