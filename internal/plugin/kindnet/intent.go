package kindnet

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/plugin"
)

// The intents kindnet names itself; every other one comes from the plugin package's helpers.

// localPodIntent: ptp's host route leads a local pod's /32 to the host end of its veth.
func localPodIntent(pod *corev1.Pod, veth string) *plugin.Intent {
	return &plugin.Intent{Next: plugin.PodNetNode(pod.Namespace, pod.Name, pod.Spec.NodeName), Device: veth,
		Why: "ptp routes a local pod's /32 to the host end of its veth " + veth}
}

// peerIntent: kindnetd routes another node's pod CIDR via that node's InternalIP.
func peerIntent(other *corev1.Node, dev string, gw netip.Addr, cidr netip.Prefix) *plugin.Intent {
	return &plugin.Intent{Next: plugin.NodeNetNode(other.Name), Device: dev, Gateway: gw,
		Why: "kindnetd routes " + cidr.String() + " via " + other.Name + "'s InternalIP"}
}
