package pathgraph

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netdiag/netdiag/internal/model"
)

// Direction says which way a link carries the connection.
type Direction int

const (
	// Forward is the first packet's way, from the source to the destination.
	Forward Direction = iota
	// Reply is the destination's answer on its way back.
	Reply
)

func (d Direction) String() string {
	if d == Reply {
		return "reply"
	}
	return "forward"
}

// Graph is a packet path ready to draw.
type Graph struct {
	// Title names the question: the source and the destination.
	Title   string
	Verdict string
	Summary string
	// Groups are the Kubernetes nodes the path crosses, in the order first reached; each
	// holds the hops on it. Services and external hosts belong to none.
	Groups []Group
	// Hops are every place the packet passes, in the order first reached.
	Hops []Hop
	// Links are numbered from 1 in reading order: the common forward way, then each
	// branch's forward way and reply, then the common reply.
	Links []Link
	// Branches are the ways a service forks the path, one per endpoint it translates to.
	Branches []Branch
	// Truncated is true when the path was cut to keep a status small.
	Truncated bool
}

// Group is one Kubernetes node and the hops on it.
type Group struct {
	Name string
	Hops []string // hop IDs
}

// Hop is one place the packet passes.
type Hop struct {
	ID    string
	Type  string // Pod, Node, Service or External
	Name  string
	Group string // the Kubernetes node it is on; empty for services and external hosts
	// Failed is true where the packet stops; Reason and Message then say why.
	Failed  bool
	Reason  string
	Message string
}

// Link is one step of the packet between two hops.
type Link struct {
	N             int
	From, To      string // hop IDs
	Type          string
	FromInterface string
	ToInterface   string
	// Packet is the packet on this link, after any NAT before it, as addresses and ports.
	Packet    string
	Direction Direction
	// Branch is the number of the service branch the link belongs to, 0 for the way every
	// branch shares.
	Branch int
}

// Branch is one endpoint a service translates to.
type Branch struct {
	N int
	// Service is the service hop's ID; Endpoint the address (and port) it translates to.
	Service  string
	Endpoint string
}

// Interfaces says the link's wire, e.g. "veth eth0 → vethcc623a9b".
func (l Link) Interfaces() string {
	ifs := l.FromInterface
	if l.ToInterface != "" {
		ifs = strings.TrimSpace(ifs + " → " + l.ToInterface)
	}
	return strings.TrimSpace(l.Type + " " + ifs)
}

// Label is the link's label in one line per part: the wire, then the packet.
func (l Link) Label() []string {
	out := []string{l.Interfaces()}
	if l.Packet != "" {
		out = append(out, l.Packet)
	}
	return out
}

// Hop returns the hop of the ID, or nil.
func (g *Graph) Hop(id string) *Hop {
	for i := range g.Hops {
		if g.Hops[i].ID == id {
			return &g.Hops[i]
		}
	}
	return nil
}

// Failed returns the hops where the packet stops.
func (g *Graph) Failed() []Hop {
	var out []Hop
	for _, h := range g.Hops {
		if h.Failed {
			out = append(out, h)
		}
	}
	return out
}

// rawLink is a link as the engine or the status gives it; pkt is valid when the packet's
// text could be read.
type rawLink struct {
	from, to, typ, fromIf, toIf string
	pkt                         model.Packet
	text                        string
	ok                          bool
}

// build makes the Graph from hops in the order first reached (the first is the source),
// their links and the suspicions, most severe first.
func build(title, verdict, summary string, hops []Hop, links []rawLink, sus []model.Suspicion) *Graph {
	g := &Graph{Title: title, Verdict: verdict, Summary: summary}
	for _, h := range hops {
		if h.Failed {
			h.Reason, h.Message = reasonAt(h, sus)
		}
		g.Hops = append(g.Hops, h)
	}
	// A status cut short may keep links to hops it dropped; they are drawn by their IDs.
	for _, l := range links {
		for _, id := range []string{l.from, l.to} {
			if g.Hop(id) == nil {
				g.Hops = append(g.Hops, Hop{ID: id, Type: typeOfID(id), Name: id})
			}
		}
	}
	for _, h := range g.Hops {
		if h.Group == "" {
			continue
		}
		i := slices.IndexFunc(g.Groups, func(x Group) bool { return x.Name == h.Group })
		if i < 0 {
			g.Groups = append(g.Groups, Group{Name: h.Group})
			i = len(g.Groups) - 1
		}
		g.Groups[i].Hops = append(g.Groups[i].Hops, h.ID)
	}
	source := ""
	if len(hops) > 0 {
		source = hops[0].ID
	}
	dirs := directions(source, links)
	g.Branches = branches(g, links, dirs)
	for i, l := range links {
		pkt := l.text
		if l.ok {
			pkt = packetText(l.pkt)
		}
		g.Links = append(g.Links, Link{From: l.from, To: l.to, Type: l.typ, FromInterface: l.fromIf, ToInterface: l.toIf,
			Packet: pkt, Direction: dirs[i], Branch: branchOf(g.Branches, l, dirs[i])})
	}
	order(g)
	return g
}

// directions tells forward links from replies by following the packet from the source's
// first links (the engine records the first hop's links first): a link leaving where another
// arrived turns back when it carries the reversed packet, which only an answer does, and
// continues its way when it keeps one of its ends (NAT rewrites one side at a time). Where
// no link can be followed so (a hop translating both sides at once), a link leaving where a
// known one arrived goes its way, and the strict rule takes over again. Links still not
// reached (a packet text not understood) count as forward unless they head for the source.
func directions(source string, links []rawLink) []Direction {
	dirs := make([]Direction, len(links))
	known := make([]bool, len(links))
	var queue []int
	for i, l := range links {
		if l.from != source {
			break
		}
		known[i] = true
		queue = append(queue, i)
	}
	follow := func(loose bool) bool {
		moved := false
		for len(queue) > 0 {
			i := queue[0]
			queue = queue[1:]
			in := links[i]
			for j, out := range links {
				if known[j] || out.from != in.to {
					continue
				}
				switch {
				case reversed(out, in):
					dirs[j] = Reply
				case !in.ok || !out.ok || sameEnd(out.pkt, in.pkt) || loose:
					dirs[j] = dirs[i]
				default:
					continue
				}
				known[j], moved = true, true
				queue = append(queue, j)
				if loose {
					return true // one loose step, then the strict rule again
				}
			}
		}
		return moved
	}
	follow(false)
	for {
		for i := range links {
			if known[i] {
				queue = append(queue, i)
			}
		}
		if !follow(true) {
			break
		}
		follow(false)
	}
	var client netip.AddrPort
	if len(links) > 0 && links[0].from == source && links[0].ok {
		client = netip.AddrPortFrom(links[0].pkt.Src, links[0].pkt.SrcPort)
	}
	for i, l := range links {
		if !known[i] && l.ok && netip.AddrPortFrom(l.pkt.Dst, l.pkt.DstPort) == client {
			dirs[i] = Reply
		}
	}
	return dirs
}

// typeOfID reads a hop's type from its ID's prefix (model.PodID and its kin).
func typeOfID(id string) string {
	kind, _, _ := strings.Cut(id, "/")
	switch kind {
	case "pod":
		return string(model.NetNodePod)
	case "node":
		return string(model.NetNodeNode)
	case "service":
		return string(model.NetNodeService)
	}
	return string(model.NetNodeExternal)
}

// reversed reports whether out carries in's packet back: the answer to it.
func reversed(out, in rawLink) bool {
	return out.ok && in.ok && out.pkt.Src == in.pkt.Dst && out.pkt.Dst == in.pkt.Src && out.pkt.SrcPort == in.pkt.DstPort && out.pkt.DstPort == in.pkt.SrcPort
}

func sameEnd(a, b model.Packet) bool {
	return (a.Src == b.Src && a.SrcPort == b.SrcPort) || (a.Dst == b.Dst && a.DstPort == b.DstPort)
}

// branches finds a service's forks: every distinct destination a forward link leaving a
// service hop carries is one branch.
func branches(g *Graph, links []rawLink, dirs []Direction) []Branch {
	var out []Branch
	for i, l := range links {
		h := g.Hop(l.from)
		if h == nil || h.Type != string(model.NetNodeService) || dirs[i] != Forward || !l.ok {
			continue
		}
		ep := endText(l.pkt.Dst, l.pkt.DstPort)
		if slices.IndexFunc(out, func(b Branch) bool { return b.Endpoint == ep }) < 0 {
			out = append(out, Branch{N: len(out) + 1, Service: l.from, Endpoint: ep})
		}
	}
	if len(out) < 2 {
		return nil // one way is no fork
	}
	return out
}

// branchOf places a link on the branch whose endpoint it carries: going to it forward, coming
// from it in reply.
func branchOf(bs []Branch, l rawLink, d Direction) int {
	if !l.ok {
		return 0
	}
	end := endText(l.pkt.Dst, l.pkt.DstPort)
	if d == Reply {
		end = endText(l.pkt.Src, l.pkt.SrcPort)
	}
	for _, b := range bs {
		if b.Endpoint == end {
			return b.N
		}
	}
	return 0
}

// order numbers the links in reading order: what every branch shares forward, each branch
// forward then back, and the shared way back; within each part, as the packet went.
func order(g *Graph) {
	rank := func(l Link) int {
		switch {
		case l.Branch == 0 && l.Direction == Forward:
			return 0
		case l.Branch == 0:
			return 2*len(g.Branches) + 1
		}
		return 2*l.Branch - 1 + int(l.Direction)
	}
	slices.SortStableFunc(g.Links, func(a, b Link) int { return cmp.Compare(rank(a), rank(b)) })
	for i := range g.Links {
		g.Links[i].N = i + 1
	}
}

// reasonAt is the most severe suspicion found where the hop is, else the most severe at all.
func reasonAt(h Hop, sus []model.Suspicion) (string, string) {
	for _, s := range sus {
		if (h.Type == string(model.NetNodePod) && s.Pod == h.Name) || (h.Type == string(model.NetNodeNode) && s.Pod == "" && s.Node == h.Name) {
			return string(s.Reason), s.Message
		}
	}
	for _, s := range sus {
		if s.Blocks() {
			return string(s.Reason), s.Message
		}
	}
	return "", ""
}

// packetText prints the packet's ends as "10.0.0.1:40000 → 10.0.0.2:80"; the protocol is
// the question's and said once.
func packetText(p model.Packet) string {
	return endText(p.Src, p.SrcPort) + " → " + endText(p.Dst, p.DstPort)
}

func endText(a netip.Addr, port uint16) string {
	if port == 0 {
		return a.String()
	}
	return netip.AddrPortFrom(a, port).String()
}

// parsePacket reads a packet as model.Packet.String prints it: "TCP 10.0.0.1:40000 ->
// 10.0.0.2:80" or "ICMP 10.0.0.1 -> 10.0.0.2".
func parsePacket(s string) (model.Packet, error) {
	f := strings.Fields(s)
	if len(f) != 4 || f[2] != "->" {
		return model.Packet{}, fmt.Errorf("packet %q: want PROTOCOL SRC -> DST", s)
	}
	p := model.Packet{Protocol: model.Protocol(f[0])}
	var err error
	if p.Src, p.SrcPort, err = parseEnd(f[1]); err != nil {
		return model.Packet{}, fmt.Errorf("packet %q: source: %w", s, err)
	}
	if p.Dst, p.DstPort, err = parseEnd(f[3]); err != nil {
		return model.Packet{}, fmt.Errorf("packet %q: destination: %w", s, err)
	}
	return p, nil
}

func parseEnd(s string) (netip.Addr, uint16, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), ap.Port(), nil
	}
	a, err := netip.ParseAddr(s)
	return a, 0, err
}
