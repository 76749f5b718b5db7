package plugin

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
)

// SimplePluginNode is what a plugin says about one NetNode: where it intends a packet to go
// next, with the checks only the plugin knows (the MTU its tunnel needs, the masquerade it
// installs), and what it checks when the packet arrives at its destination. BasePluginNode
// does the hop from the real state and calls these to compare.
//
// Each To* method returns the plugin's intent for the packet in h (already translated by
// the NAT on this NetNode), or nil when the plugin has no opinion; it records what it finds
// with h.Suspect and h.Step.
type SimplePluginNode interface {
	ToPod(h *Hop, pod *corev1.Pod) (*Intent, error)
	ToHost(h *Hop, node *corev1.Node) (*Intent, error)
	ToService(h *Hop, svc *corev1.Service) (*Intent, error)
	ToExternal(h *Hop) (*Intent, error)
	// Serve checks that the packet, arrived at its destination, is taken by a socket.
	Serve(h *Hop) error
}

// Intent is where a plugin means a packet to go from a NetNode.
type Intent struct {
	// Next is the NetNode ID of the next place; the NetNode's own ID for local delivery.
	Next string
	// Device and Gateway are the route the plugin installs for it, when it installs one.
	Device  string
	Gateway netip.Addr
	// Why says in a few words what the plugin expects ("flannel vxlan to node-b").
	Why string
}
