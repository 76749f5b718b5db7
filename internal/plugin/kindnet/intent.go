package kindnet

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin"
)

// The intents kindnet names itself; every other one comes from the plugin package's helpers.

// localPodIntent: ptp's host route leads a local pod's /32 to the host end of its veth.
func localPodIntent(pod *corev1.Pod, veth string) *plugin.Intent {
	return &plugin.Intent{Next: model.PodID(pod.Namespace, pod.Name), Device: veth,
		Why: "ptp routes a local pod's /32 to the host end of its veth " + veth}
}

// peerIntent: kindnetd routes another node's pod CIDR via that node's InternalIP.
func peerIntent(other *corev1.Node, dev string, gw netip.Addr, cidr netip.Prefix) *plugin.Intent {
	return &plugin.Intent{Next: model.NodeID(other.Name), Device: dev, Gateway: gw,
		Why: "kindnetd routes " + cidr.String() + " via " + other.Name + "'s InternalIP"}
}

// gatewayIntent: a pod sends everything to its gateway, held by the host end of its veth.
func gatewayIntent(pod *corev1.Pod, dev string, gw netip.Addr) *plugin.Intent {
	return &plugin.Intent{Next: model.NodeID(pod.Spec.NodeName), Device: dev, Gateway: gw,
		Why: "ptp routes everything a pod sends via " + gw.String() + ", held by the host end of its veth"}
}
