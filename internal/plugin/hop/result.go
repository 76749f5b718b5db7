package hop

import (
	"net/netip"

	"github.com/netdiag/netdiag/internal/model"
)

// Transmission is a model.Transmission with what the receiving NetNode needs to know about
// the wire: the L3 next hop the sender resolved, the outer header of a tunnel, and the
// service whose address was translated on the way (for the path).
type Transmission struct {
	model.Transmission
	// NextHop is the address the sender resolved at L2 (its route's gateway, or the
	// destination itself when directly connected). A bridge forwards a frame whose next hop
	// is not its own address without routing it.
	NextHop netip.Addr
	// Outer is the encapsulating packet of a tunnel (vxlan, ipip), nil otherwise; the
	// receiving NetNode takes it in by the Tunnel registered for the link's type.
	Outer *model.Packet
	// Via is the service whose address the sender translated, shown between the two NetNodes
	// in the packet path.
	Via *model.NetNode
	// Size is the packet's size on the link when the question asks about one (see Hop.Size).
	Size int
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

// Result is what a NetNode did with a packet: the transmissions onward (several when a
// load-balancing rule forks it), the branches that ended here, what was found and the steps
// that explain it.
type Result struct {
	Next       []*Transmission
	Ends       []End
	Suspicions []model.Suspicion
	Steps      []model.Step
}

// Action is what a stage did with a branch.
type Action uint8

const (
	// Continue: the branch goes on to the next stage.
	Continue Action = iota
	// Drop: the branch ended here; its End and the suspicion that says why are recorded.
	Drop
	// Deliver: the packet reached a socket of this NetNode.
	Deliver
	// Emit: the packet leaves by a transmission to the next NetNode.
	Emit
)

// Decision is a stage's answer for one branch: Emit carries the transmission; Drop and
// Deliver have recorded the branch's End on the hop.
type Decision struct {
	Action Action
	Out    *Transmission
}

// Emitted is the decision to send t onward.
func Emitted(t *Transmission) Decision { return Decision{Action: Emit, Out: t} }

// Stopped is the decision of a stage that ended the branch with what it recorded.
func Stopped() Decision { return Decision{Action: Drop} }

// NodeNetNode builds the NetNode of a node.
func NodeNetNode(name string) *model.NetNode {
	return &model.NetNode{ID: model.NodeID(name), Type: model.NetNodeNode, Name: name, Node: name}
}

// PodNetNode builds the NetNode of a pod on node.
func PodNetNode(namespace, name, node string) *model.NetNode {
	return &model.NetNode{ID: model.PodID(namespace, name), Type: model.NetNodePod, Name: namespace + "/" + name, Node: node}
}

// ExternalNetNode builds the NetNode of an address outside the cluster.
func ExternalNetNode(addr netip.Addr) *model.NetNode {
	return &model.NetNode{ID: model.ExternalID(addr), Type: model.NetNodeExternal, Name: addr.String()}
}
