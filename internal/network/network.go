package network

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin"
)

// Network simulates one cluster's data plane.
type Network interface {
	// Diagnose walks the question's packet from the source to the destination.
	Diagnose(q model.Question) (*Trace, error)
}

// Trace is what a walk found.
type Trace struct {
	Path       *model.PacketPath
	Suspicions []model.Suspicion
	Steps      []model.Step
	Ends       []plugin.End
}

// DefaultHopLimit bounds the NetNodes one branch may cross; a real path inside a cluster
// crosses fewer than ten.
const DefaultHopLimit = 32

// MaxBranches bounds the branches one walk follows (a service with many endpoints on many
// nodes forks the packet once per endpoint).
const MaxBranches = 256

// Resolver gives the NetNodeAction of a NetNode.
type Resolver func(n *model.NetNode) (plugin.NetNodeAction, error)

type item struct {
	t     *plugin.Transmission
	depth int
	// from is the branch up to the NetNode that sent t.
	from *trail
	// entry is the way the source sent the packet on, of several (the nodes traffic from
	// outside may enter by).
	entry int
}

// visitKey identifies a packet arriving at a NetNode: the same packet arriving at the same
// place by the same interface twice is a loop.
type visitKey struct {
	node string
	iif  string
	pkt  model.Packet
	// reply is the destination that answers: the replies of two endpoints of a service,
	// un-DNATed to the same packet, are two branches, not a loop.
	reply string
	// entry tells apart the same packet on the ways of a source that sends it several ways
	// (one per entry node): they meet again outside, and that is no loop either.
	entry int
}

// Walk follows the first hop's transmissions to their ends.
func Walk(first *plugin.HopResult, source *model.NetNode, resolve Resolver, hopLimit int) (*Trace, error) {
	if hopLimit <= 0 {
		hopLimit = DefaultHopLimit
	}
	tr := &Trace{Path: model.NewPacketPath()}
	tr.Path.AddNode(source)
	seen := map[string]bool{}
	absorb := func(r *plugin.HopResult) {
		for _, s := range r.Suspicions {
			k := fmt.Sprint(s)
			if !seen[k] {
				seen[k] = true
				tr.Suspicions = append(tr.Suspicions, s)
			}
		}
		tr.Steps = append(tr.Steps, r.Steps...)
		tr.Ends = append(tr.Ends, r.Ends...)
		for _, e := range r.Ends {
			if e.Kind != plugin.Delivered {
				tr.Path.MarkFailed(&model.NetNode{ID: e.NodeID})
			}
		}
	}
	var ended []finished
	// follow splits a visit into its ways: the ends finish their branches, and the
	// transmissions are returned with the branch each extends.
	follow := func(from *trail, node string, link *model.Link, in model.Packet, reply bool, r *plugin.HopResult) []item {
		ways, hops := visitWays(node, link, in, reply, r)
		var next []item
		for i, w := range ways {
			t := from.extend(hops[i], i)
			if w.end != nil {
				ended = append(ended, t.finish(*w.end))
				continue
			}
			next = append(next, item{t: w.next, from: t})
		}
		return next
	}
	finish := func(from *trail, t *plugin.Transmission, end plugin.End) {
		link := arrival(t)
		ended = append(ended, from.extend([]model.BranchHop{{NodeID: t.To.ID, Reply: t.Reply != "", In: &link}}, 0).finish(end))
	}
	absorb(first)
	var queue []item
	for i, it := range follow(nil, source.ID, nil, firstPacket(first), false, first) {
		it.depth, it.entry = 1, i
		queue = append(queue, it)
	}
	visited := map[visitKey]bool{}
	branches := 0
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		t := it.t
		addLink(tr.Path, t)
		key := visitKey{t.To.ID, t.Link.ToInterface, t.Packet, t.Reply, it.entry}
		if visited[key] {
			tr.Suspicions = append(tr.Suspicions, model.Suspicion{
				Level: model.Critical, Reason: model.ReasonRoutingLoop, Node: t.To.Node, Interface: t.Link.ToInterface,
				Message: fmt.Sprintf("The packet %s comes back to %s by %s: the routes form a loop", t.Packet, t.To.Name, linkIn(t)),
			})
			end := plugin.End{Kind: plugin.Dropped, NodeID: t.To.ID, Packet: t.Packet, Why: "routing loop through " + t.To.Name}
			tr.Ends = append(tr.Ends, end)
			finish(it.from, t, end)
			tr.Path.MarkFailed(t.To)
			continue
		}
		visited[key] = true
		if it.depth > hopLimit {
			tr.Suspicions = append(tr.Suspicions, model.Suspicion{
				Level: model.Critical, Reason: model.ReasonHopLimitExceeded, Node: t.To.Node,
				Message: fmt.Sprintf("The packet crossed more than %d places without arriving; the walk stops at %s", hopLimit, t.To.Name),
			})
			end := plugin.End{Kind: plugin.Dropped, NodeID: t.To.ID, Packet: t.Packet, Why: "hop limit exceeded"}
			tr.Ends = append(tr.Ends, end)
			finish(it.from, t, end)
			tr.Path.MarkFailed(t.To)
			continue
		}
		action, err := resolve(t.To)
		if err != nil {
			return nil, fmt.Errorf("NetNode %s: %w", t.To.ID, err)
		}
		r, err := action.Receive(t)
		if err != nil {
			return nil, fmt.Errorf("receive at %s: %w", t.To.ID, err)
		}
		absorb(r)
		link := arrival(t)
		next := follow(it.from, t.To.ID, &link, t.Packet, t.Reply != "", r)
		for i, n := range next {
			// A transmission that carries its branch on is no new branch; each further way
			// out of one visit is (a service's endpoints, the entry nodes from outside).
			if i > 0 {
				branches++
			}
			if branches > MaxBranches {
				tr.Suspicions = append(tr.Suspicions, model.Suspicion{Level: model.Info, Reason: model.ReasonHopLimitExceeded,
					Message: fmt.Sprintf("The packet forks into more than %d branches; the rest are not followed", MaxBranches)})
				end := plugin.End{Kind: plugin.Undecided, NodeID: n.t.From.ID, Packet: n.t.Packet, Why: "too many branches"}
				tr.Ends = append(tr.Ends, end)
				ended = append(ended, n.from.finish(end))
				break
			}
			n.depth, n.entry = it.depth+1, it.entry
			queue = append(queue, n)
		}
	}
	tr.Path.Branches = sortBranches(ended)
	return tr, nil
}

// arrival is the link t arrives by, as the path holds it.
func arrival(t *plugin.Transmission) model.Link {
	l := t.Link
	l.From, l.To = t.From.ID, t.To.ID
	return l
}

// firstPacket is the packet the source sent: the one its first step carries.
func firstPacket(r *plugin.HopResult) model.Packet {
	if len(r.Steps) > 0 {
		return r.Steps[0].Packet
	}
	if len(r.Next) > 0 {
		return r.Next[0].Packet
	}
	return model.Packet{}
}

func linkIn(t *plugin.Transmission) string {
	if t.Link.ToInterface != "" {
		return t.Link.ToInterface
	}
	return string(t.Link.Type)
}

// addLink records the transmission, through the service NetNode where an address was
// translated on the way.
func addLink(p *model.PacketPath, t *plugin.Transmission) {
	if t.Via == nil {
		p.AddLink(t.From, t.To, t.Link)
		return
	}
	via := p.AddNode(t.Via)
	p.AddLink(t.From, via, model.Link{Type: model.LinkService, FromInterface: t.Link.FromInterface, Packet: t.Packet})
	p.AddLink(via, t.To, t.Link)
}

// FirstPacket is the packet a source sends for the question: an ephemeral source port the
// kernel could pick, the destination's address and port.
func FirstPacket(q model.Question, src netip.Addr) model.Packet {
	pkt := model.Packet{Src: src, Dst: q.Destination.IP, Protocol: q.Protocol, DstPort: q.Port}
	if q.Protocol != model.ICMP {
		pkt.SrcPort = 40000
	}
	return pkt
}

// SortEnds orders ends for stable output.
func SortEnds(ends []plugin.End) {
	slices.SortStableFunc(ends, func(a, b plugin.End) int {
		return strings.Compare(a.NodeID+string(a.Kind), b.NodeID+string(b.Kind))
	})
}
