package plugin

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/model"
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

// Transmission is a model.Transmission with what the receiving NetNode needs to know about
// the wire: the L3 next hop the sender resolved, the outer header of a tunnel, and the
// service whose address was translated on the way (for the path).
type Transmission struct {
	model.Transmission
	// NextHop is the address the sender resolved at L2 (its route's gateway, or the
	// destination itself when directly connected). A bridge forwards a frame whose next hop
	// is not its own address without routing it.
	NextHop netip.Addr
	// Outer is the encapsulating packet of a tunnel (vxlan), nil otherwise.
	Outer *model.Packet
	// Via is the service whose address the sender translated, shown between the two NetNodes
	// in the packet path.
	Via *model.NetNode
	// Reply is the NetNode ID of the destination when the packet is its reply to the
	// connection the forward packet opened (empty for the forward packet): the hooks see it
	// ESTABLISHED and conntrack undoes the NAT the forward packet got at each NetNode.
	Reply string
}

// EndKind says how a branch of the packet's way ended.
type EndKind string

const (
	// Delivered: the packet reached its destination (a listening socket, or outside the
	// cluster where the engine stops following it).
	Delivered EndKind = "Delivered"
	// Dropped: the state stops the packet; a Critical or Fatal suspicion says why.
	Dropped EndKind = "Dropped"
	// Undecided: the engine cannot tell (missing state, a rule it does not understand); an
	// Info or Warning suspicion says why.
	Undecided EndKind = "Undecided"
)

// End is how one branch ended, and where.
type End struct {
	Kind   EndKind
	NodeID string
	Packet model.Packet
	// Why is a short phrase for the summary ("route to 10.244.1.0/24 is a blackhole").
	Why string
}

// HopResult is what a NetNode did with a packet: the transmissions onward (several when a
// load-balancing rule forks it), the branches that ended here, what was found and the steps
// that explain it.
type HopResult struct {
	Next       []*Transmission
	Ends       []End
	Suspicions []model.Suspicion
	Steps      []model.Step
}

// merge appends o to r.
func (r *HopResult) merge(o *HopResult) {
	if o == nil {
		return
	}
	r.Next = append(r.Next, o.Next...)
	r.Ends = append(r.Ends, o.Ends...)
	r.Suspicions = append(r.Suspicions, o.Suspicions...)
	r.Steps = append(r.Steps, o.Steps...)
}
