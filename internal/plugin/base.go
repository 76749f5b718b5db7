package plugin

import (
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin/hop"
)

// BasePluginNode is the NetNodeAction of a pod or node whose plugin implements
// SimplePluginNode. It runs the staged hop (package hop) through the namespace's real state
// and asks the plugin where it meant the packet to go; Ext carries what the plugin adds to
// the hop (its device kinds, its checks on what leaves, its explainers).
type BasePluginNode struct {
	NetNode *model.NetNode
	Env     *Env
	Simple  SimplePluginNode
	// Node is the node the NetNode is, or runs on.
	Node string
	// Pod is the pod of a pod NetNode, nil for a node.
	Pod *corev1.Pod
	Ext Extensions

	once sync.Once
	pipe *hop.Pipeline
}

var _ NetNodeAction = (*BasePluginNode)(nil)

func (b *BasePluginNode) pipeline() *hop.Pipeline {
	b.once.Do(func() {
		b.pipe = &hop.Pipeline{NetNode: b.NetNode, Env: b.Env, Intents: b.Simple, Node: b.Node, Pod: b.Pod, Ext: b.Ext}
	})
	return b.pipe
}

// Send starts the packet here as a local socket sends it.
func (b *BasePluginNode) Send(dst model.Endpoint, pkt model.Packet) (*HopResult, error) {
	return b.pipeline().Send(dst, pkt)
}

// Receive takes a packet from the wire.
func (b *BasePluginNode) Receive(t *Transmission) (*HopResult, error) {
	return b.pipeline().Receive(t)
}
