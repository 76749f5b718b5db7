package plugin

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin/hop"
)

// Plugin makes the NetNodeActions of one network plugin.
type Plugin interface {
	// Name is the plugin's name as provider.CreateNetwork knows it ("flannel").
	Name() string
	// CreatePod returns the action of a pod's network namespace.
	CreatePod(pod *corev1.Pod) (NetNodeAction, error)
	// CreateNode returns the action of a node's own network namespace.
	CreateNode(node *corev1.Node) (NetNodeAction, error)
	// EnforcesPolicy reports whether the plugin enforces Kubernetes NetworkPolicy. When it
	// does not, a policy that would deny is an Info, not a verdict.
	EnforcesPolicy() bool
}

// NetNodeAction is what a NetNode does with a packet.
type NetNodeAction interface {
	// Send starts pkt at this NetNode, addressed to dst, as a local socket would.
	Send(dst model.Endpoint, pkt model.Packet) (*HopResult, error)
	// Receive takes a packet that arrived over t.Link.
	Receive(t *Transmission) (*HopResult, error)
}

// The hop's own types, under the names a plugin author uses.
type (
	// Hop is one packet at one NetNode: what a SimplePluginNode reads and where it records
	// what it finds.
	Hop = hop.Hop
	// Env is what every NetNode of one diagnosis shares: the snapshot and the evaluators.
	Env = hop.Env
	// Transmission is a packet on its way between two NetNodes.
	Transmission = hop.Transmission
	// HopResult is what a NetNode did with a packet.
	HopResult = hop.Result
	// End is how one branch ended, and where; EndKind how.
	End     = hop.End
	EndKind = hop.EndKind
	// Intent is where a plugin means a packet to go from a NetNode.
	Intent = hop.Intent
	// Extensions are the device kinds, checks and explainers a plugin adds to the hop.
	Extensions = hop.Extensions
)

// How a branch ends.
const (
	Delivered = hop.Delivered
	Dropped   = hop.Dropped
	Undecided = hop.Undecided
)

// NodeNetNode builds the NetNode of a node.
func NodeNetNode(name string) *model.NetNode { return hop.NodeNetNode(name) }

// PodNetNode builds the NetNode of a pod.
func PodNetNode(namespace, name, node string) *model.NetNode {
	return hop.PodNetNode(namespace, name, node)
}

// ExternalNetNode builds the NetNode of an address outside the cluster.
var ExternalNetNode = hop.ExternalNetNode
