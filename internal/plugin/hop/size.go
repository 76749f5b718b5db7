package hop

import (
	"net/netip"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

// sizeAt is the size of the forward packet at h when the question asks about one, and
// whether it may not be fragmented. ICMP and UDP packets are the question's size. TCP never
// sends a segment larger than the MSS the other end advertised (its own interface's MTU less
// the headers), nor than its own interface allows, so its full-size packets are the smaller
// of both ends' MTUs, capped by the question's size, and always carry DF. ok is false for
// replies, for questions without a size, and for TCP while the destination's own interface
// is not known (a service's address before it is translated, an address outside the
// cluster): the size the ends negotiate cannot be told there.
func (p *Pipeline) sizeAt(h *Hop) (size int, df bool, ok bool) {
	q := h.Env.Question
	if h.Size <= 0 || h.Reply != "" {
		return 0, false, false
	}
	if q.Protocol != model.TCP {
		return h.Size, q.DontFragment, true
	}
	src, srcOK := h.Env.addrMTU(q.Source.IP)
	dst, dstOK := h.Env.addrMTU(h.Packet.Dst)
	if !srcOK || !dstOK {
		return 0, true, false
	}
	return min(h.Size, src, dst), true, true
}

// fitsOut checks the packet against the MTU of the device it leaves by: a packet with DF
// that does not fit is dropped, and the kernel answers ICMP fragmentation needed; one
// without DF leaves in fragments no larger than the MTU, which the next hops see.
func (p *Pipeline) fitsOut(h *Hop, dev *netstack.Interface) bool {
	size, df, ok := p.sizeAt(h)
	if !ok || dev == nil || dev.MTU <= 0 || size <= dev.MTU {
		return true
	}
	if df {
		h.drop(model.ReasonPacketTooBig, dev.Name, "", "packet larger than the MTU of "+dev.Name,
			"A %d-byte packet with DF leaves %s by %s, whose MTU is %d: the kernel drops it and answers ICMP fragmentation needed; packets up to %d bytes get through",
			size, p.NetNode.Name, dev.Name, dev.MTU, dev.MTU)
		return false
	}
	h.Suspectf(model.Info, model.ReasonPacketTooBig, dev.Name, "",
		"A %d-byte packet without DF leaves %s by %s, whose MTU is %d, in fragments; a firewall or load balancer on the way that drops fragments would lose it",
		size, p.NetNode.Name, dev.Name, dev.MTU)
	h.Size = dev.MTU
	return true
}

// fitsIn checks the packet against the MTU of the veth end it enters by: a veth hands its
// peer only what fits the peer's MTU and drops the rest silently, DF or not.
func (p *Pipeline) fitsIn(h *Hop, t *Transmission, in *netstack.Interface) bool {
	if t.Link.Type != model.LinkVeth || in == nil || in.MTU <= 0 {
		return true
	}
	size, _, ok := p.sizeAt(h)
	if !ok || size <= in.MTU {
		return true
	}
	h.drop(model.ReasonPacketTooBig, in.Name, "", "packet larger than the MTU of "+in.Name,
		"A %d-byte packet from %s enters %s by its veth end %s, whose MTU is %d: the veth drops it without a word; packets up to %d bytes get through",
		size, t.From.Name, p.NetNode.Name, in.Name, in.MTU, in.MTU)
	return false
}

// addrMTU is the MTU of the interface that holds addr, in the namespace of the pod or node
// it belongs to, when that namespace was collected.
func (e *Env) addrMTU(addr netip.Addr) (int, bool) {
	var stack *netstack.Netstack
	if ep, ok := e.Cluster.IPCache().Lookup(addr); ok && ep.Type == model.EndpointPod {
		stack = e.PodStack(ep.Namespace, ep.Name)
	} else if node, ok := e.NodeOf(addr); ok {
		stack = e.NodeStack(node)
	}
	if ifc := InterfaceWithAddr(stack, addr); ifc != nil && ifc.MTU > 0 {
		return ifc.MTU, true
	}
	return 0, false
}
