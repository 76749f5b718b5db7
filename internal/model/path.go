package model

// PacketPath is the graph of the packet's way: the NetNodes in the order first reached, and
// the links between them. A service with several endpoints forks it.
type PacketPath struct {
	Nodes []*NetNode
	Links []Link
	// Failed holds the IDs of the NetNodes where the packet stops.
	Failed map[string]bool
	// Branches are the ways the packet takes, each from the source to its end, in the
	// order they fork.
	Branches []Branch

	index map[string]*NetNode
}

// NewPacketPath returns an empty path.
func NewPacketPath() *PacketPath {
	return &PacketPath{Failed: map[string]bool{}, index: map[string]*NetNode{}}
}

// AddNode adds n once and returns the stored NetNode with its ID.
func (p *PacketPath) AddNode(n *NetNode) *NetNode {
	if have, ok := p.index[n.ID]; ok {
		return have
	}
	p.index[n.ID] = n
	p.Nodes = append(p.Nodes, n)
	return n
}

// AddLink adds the link and both its ends.
func (p *PacketPath) AddLink(from, to *NetNode, l Link) {
	p.AddNode(from)
	p.AddNode(to)
	l.From, l.To = from.ID, to.ID
	for _, have := range p.Links {
		if have.From == l.From && have.To == l.To && have.Type == l.Type && have.Packet == l.Packet {
			return
		}
	}
	p.Links = append(p.Links, l)
}

// MarkFailed records that the packet stops at n.
func (p *PacketPath) MarkFailed(n *NetNode) {
	p.AddNode(n)
	p.Failed[n.ID] = true
}

// Branch is one way the packet takes from the source to where it ends, hop after hop: the
// forward packet's NetNodes, then the reply's. A service with several endpoints forks the
// path into one branch per endpoint; a person reads each as a story of its own.
type Branch struct {
	Hops []BranchHop
	// End is how the branch ended at its last hop: Delivered, Dropped or Undecided.
	End string
	// Why says why it ended there, in a few words ("the reply comes back to shop/client").
	Why string
}

// BranchHop is one NetNode of a branch and what it did with the branch's packet. The
// destination appears twice: as the forward packet's last hop and as the reply's first.
type BranchHop struct {
	NodeID string
	// Reply is set on the hops of the destination's answer.
	Reply bool
	// In is the link the packet arrived by; nil where the packet starts (the source, and
	// the destination where its reply starts).
	In *Link
	// Steps are what the NetNode did with this branch's packet, in order.
	Steps []Step
	// Choice is the load-balancing step that sent the packet this way (a service's DNAT to
	// one of its endpoints), nil where the packet did not fork.
	Choice *Step
}

// Forward returns the hops of the forward packet and those of the reply.
func (b Branch) Forward() (forward, reply []BranchHop) {
	for i, h := range b.Hops {
		if h.Reply {
			return b.Hops[:i], b.Hops[i:]
		}
	}
	return b.Hops, nil
}
