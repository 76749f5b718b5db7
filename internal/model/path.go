package model

// PacketPath is the graph of the packet's way: the NetNodes in the order first reached, and
// the links between them. A service with several endpoints forks it.
type PacketPath struct {
	Nodes []*NetNode
	Links []Link
	// Failed holds the IDs of the NetNodes where the packet stops.
	Failed map[string]bool

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
