package hop

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// Hop is one packet at one NetNode: what a SimplePluginNode reads and where it records what
// it finds.
type Hop struct {
	Env     *Env
	NetNode *model.NetNode
	// Stack is the NetNode's namespace; nil when it was not collected.
	Stack *netstack.Netstack
	// Node is the node the NetNode is (or runs on); Pod is the pod of a pod NetNode.
	Node string
	Pod  *corev1.Pod
	// Packet is the packet as it stands at this step (after NAT on this NetNode).
	Packet model.Packet
	// Conn is the packet's connection in this NetNode's namespace, as the netfilter
	// evaluator keeps it: NEW for a forward packet until it is tracked, ESTABLISHED in the
	// reply direction for a reply, with the NAT the hooks bound so far. It goes from hook
	// to hook with the packet, as conntrack's entry does.
	Conn nf.Conn
	// In is the transmission the packet arrived by; nil when the packet starts here.
	In *Transmission
	// IIF is the interface the kernel sees the packet come in by (a bridge port's master).
	IIF string
	// Reply is the NetNode ID of the destination when the packet is its reply (Conn is then
	// ESTABLISHED in the reply direction); empty for the forward packet.
	Reply string
	// Size is the size of the forward packet here, in bytes, when the question asks about
	// one (zero otherwise): the question's size, or the fragments' after a link fragmented
	// it.
	Size int

	res *Result
}

// podName is namespace/name of the hop's pod, or empty.
func (h *Hop) podName() string {
	if h.Pod == nil {
		return ""
	}
	return h.Pod.Namespace + "/" + h.Pod.Name
}

// Suspect records a suspicion found at this hop; Node and Pod default to the hop's.
func (h *Hop) Suspect(s model.Suspicion) {
	if s.Node == "" {
		s.Node = h.Node
	}
	if s.Pod == "" {
		s.Pod = h.podName()
	}
	h.res.Suspicions = append(h.res.Suspicions, s)
}

// Suspectf records a suspicion with a formatted message.
func (h *Hop) Suspectf(level model.Level, reason model.Reason, iface, rule, format string, args ...any) {
	h.Suspect(model.Suspicion{Level: level, Reason: reason, Interface: iface, Rule: rule, Message: fmt.Sprintf(format, args...)})
}

// Step records what the NetNode did with the packet.
func (h *Hop) Step(component, action, detail string) {
	h.res.Steps = append(h.res.Steps, model.Step{NodeID: h.NetNode.ID, Component: component, Action: action, Detail: detail, Packet: h.Packet})
}

// Record records a suspicion as it is, for a finding about another place than the hop's
// (the node's end of a pod's veth).
func (h *Hop) Record(s model.Suspicion) {
	h.res.Suspicions = append(h.res.Suspicions, s)
}

// Stop closes the hop's branch at this NetNode.
func (h *Hop) Stop(kind EndKind, why string) { h.end(kind, why) }

// end closes a branch at this NetNode.
func (h *Hop) end(kind EndKind, why string) {
	if h.Reply != "" && why != "" {
		why = "the reply: " + why
	}
	h.res.Ends = append(h.res.Ends, End{Kind: kind, NodeID: h.NetNode.ID, Packet: h.Packet, Why: why})
}

// drop closes a branch with a blocking suspicion.
func (h *Hop) drop(reason model.Reason, iface, rule, why, format string, args ...any) {
	h.Suspectf(model.Critical, reason, iface, rule, format, args...)
	h.end(Dropped, why)
}

// With returns a copy of h for a branch carrying pkt; results still go to the same place.
func (h *Hop) With(pkt model.Packet) *Hop {
	c := *h
	c.Packet = pkt
	return &c
}

// After returns a copy of h for the branch of a hook's outcome: the packet and its
// connection as the hook left them.
func (h *Hop) After(o *nf.Outcome) *Hop {
	c := h.With(o.Packet.Model())
	c.Conn = o.Packet.Conn
	return c
}

// Tunnel returns a copy of h for a tunnel's outer packet, a flow of its own: its first
// packet, NEW in the NetNode's conntrack.
func (h *Hop) Tunnel(outer model.Packet) *Hop {
	c := h.With(outer)
	c.Conn = nf.Conn{}
	return c
}

// NFPacket is the packet as netfilter sees it at a hook: its headers, the interfaces the
// kernel knows there, and its connection.
func (h *Hop) NFPacket(in, out string) nf.Packet {
	p := nf.FromModel(h.Packet)
	p.In, p.Out, p.Conn = in, out, h.Conn
	if h.Conn.Reply {
		// The reply's headers: a TCP SYN-ACK, an ICMP echo reply.
		p.TCPFlags, p.ICMPType = p.TCPFlags|nf.TCPAck, 0
	}
	return p
}

// Interface returns the named interface of the hop's namespace, or nil.
func (h *Hop) Interface(name string) *netstack.Interface {
	if h.Stack == nil {
		return nil
	}
	return h.Stack.InterfaceByName(name)
}

// InterfaceByIndex returns the interface with ifindex idx, or nil.
func InterfaceByIndex(stack *netstack.Netstack, idx int) *netstack.Interface {
	if stack == nil {
		return nil
	}
	return stack.InterfaceByIndex(idx)
}

// InterfaceWithAddr returns the interface of stack holding addr, or nil.
func InterfaceWithAddr(stack *netstack.Netstack, addr netip.Addr) *netstack.Interface {
	if stack == nil {
		return nil
	}
	return stack.InterfaceWithAddr(addr)
}

// Sysctl returns a sysctl of the hop's namespace.
func (h *Hop) Sysctl(key string) (string, bool) {
	if h.Stack == nil {
		return "", false
	}
	v, ok := h.Stack.Sysctls[key]
	return v, ok
}

// Neighbour returns the neighbour entry for ip on dev, or nil.
func (h *Hop) Neighbour(dev string, ip netip.Addr) *netstack.Neighbour {
	if h.Stack == nil || dev == "" {
		return nil
	}
	return h.Stack.Neighbour(dev, ip)
}

// FDB returns the forwarding entry for mac on dev, or nil.
func (h *Hop) FDB(dev, mac string) *netstack.FDBEntry {
	if h.Stack == nil {
		return nil
	}
	if e := h.Stack.FDBEntries(mac, dev); len(e) > 0 {
		return &e[0]
	}
	return nil
}

// Underlay returns the interface that carries the node's own address (the device
// encapsulated and host-routed traffic leaves by), or nil.
func (h *Hop) Underlay() *netstack.Interface {
	if h.Stack == nil {
		return nil
	}
	if n := h.Env.Cluster.Node(h.Node); n != nil {
		if ip, ok := cluster.NodeInternalIP(n); ok {
			if ifc := InterfaceWithAddr(h.Stack, ip); ifc != nil {
				return ifc
			}
		}
	}
	return nil
}

// FormatRoute prints a route as `ip route` does.
func FormatRoute(r *netstack.Route) string {
	if r == nil {
		return ""
	}
	return r.String()
}
