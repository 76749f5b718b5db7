package plugin

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// Router looks routes up in one namespace; *netstack.Netstack implements it.
type Router interface {
	LookupRoute(q netstack.RouteQuery) netstack.RouteResult
}

// BasePluginNode is the NetNodeAction of a pod or node whose plugin implements
// SimplePluginNode. It follows the packet through the namespace's real state and asks the
// plugin where it meant the packet to go.
type BasePluginNode struct {
	NetNode *model.NetNode
	Env     *Env
	Simple  SimplePluginNode
	// Node is the node the NetNode is, or runs on.
	Node string
	// Pod is the pod of a pod NetNode, nil for a node.
	Pod *corev1.Pod
}

var _ NetNodeAction = (*BasePluginNode)(nil)

func (b *BasePluginNode) stack() *netstack.Netstack {
	if b.Pod != nil {
		return b.Env.PodStack(b.Pod.Namespace, b.Pod.Name)
	}
	return b.Env.NodeStack(b.Node)
}

func (b *BasePluginNode) hop(pkt model.Packet, in *Transmission) *Hop {
	h := &Hop{Env: b.Env, NetNode: b.NetNode, Stack: b.stack(), Node: b.Node, Pod: b.Pod, Packet: pkt, In: in, res: &HopResult{}}
	if in != nil && in.Reply != "" {
		// The reply belongs to the connection the forward packet made here; the hooks'
		// nat stages reverse that connection's NAT.
		h.Reply, h.Conn = in.Reply, b.Env.replyConn(b.NetNode.ID, pkt)
	}
	return h
}

// Send starts the packet here as a local socket sends it: route lookup, the OUTPUT hook
// (which may translate a service address and re-route), POSTROUTING, out.
func (b *BasePluginNode) Send(dst model.Endpoint, pkt model.Packet) (*HopResult, error) {
	h := b.hop(pkt, nil)
	if h.Stack == nil {
		return h.res, b.followIntent(h)
	}
	b.checkState(h)
	if b.Pod != nil {
		if !b.policy(h, true) {
			return h.res, nil
		}
	}
	q := routeQuery(pkt, "")
	if b.Pod != nil {
		q.Src = pkt.Src
	}
	r, ok := b.route(h, q)
	if !ok {
		return h.res, nil
	}
	if b.Pod == nil && r.Type != netstack.RouteLocal {
		// A node's socket takes the source address the route selects.
		if src := selectSource(h, r); src.IsValid() && src != pkt.Src {
			pkt.Src = src
			h.Packet = pkt
			h.Step("route", "source", "selected "+src.String())
		}
	}
	var sent []*Hop
	if a, ok := b.serviceArrival(h, ""); ok && inNetfilter(h.Stack) {
		for _, l := range b.meetService(h, a, HookOutput, "", r.Device) {
			sent = append(sent, l.hop)
		}
	} else {
		hs := []*Hop{h}
		if ok {
			hs = b.proxyService(h, a)
		}
		for _, hh := range hs {
			for _, o := range b.hook(hh, HookOutput, "", r.Device) {
				sent = append(sent, hh.after(o))
			}
		}
	}
	for _, hb := range sent {
		rr := r
		if hb.Packet.Dst != pkt.Dst || hb.Packet.Mark != pkt.Mark {
			// NAT or a mark changed the key: the kernel routes the packet again.
			var ok bool
			if rr, ok = b.route(hb, routeQuery(hb.Packet, "")); !ok {
				continue
			}
		}
		if rr.Type == netstack.RouteLocal {
			// A packet to an address of this namespace is looped back through lo; with lo
			// down the kernel still routes it there and it is lost.
			if lo := hb.Interface("lo"); lo != nil && !lo.Up {
				hb.drop(model.ReasonInterfaceDown, "lo", "", "lo is down",
					"The packet to %s, an address of %s itself, loops back through lo, which is down: bring it up (ip link set lo up)", hb.Packet.Dst, b.NetNode.Name)
				continue
			}
			b.input(hb, "lo")
			continue
		}
		b.postrouting(hb, rr, "")
	}
	return h.res, nil
}

// Receive takes a packet from the wire: the interface, a tunnel's outer header, the bridge,
// PREROUTING, the routing decision, then local delivery or forwarding.
func (b *BasePluginNode) Receive(t *Transmission) (*HopResult, error) {
	h := b.hop(t.Packet, t)
	if h.Stack == nil {
		return h.res, b.followIntent(h)
	}
	b.checkState(h)
	iif := t.Link.ToInterface
	if t.Outer != nil {
		var ok bool
		if iif, ok = b.decapsulate(h, *t.Outer); !ok {
			return h.res, nil
		}
	}
	ifc := h.Interface(iif)
	if iif == "" {
		h.Suspectf(model.Info, model.ReasonSnapshotMissing, "", "", "The interface the packet enters %s by is not known (the sender's side was not collected); the checks that depend on it are skipped", b.NetNode.Name)
	} else if !h.checked(h.Assert().InterfaceUp(iif), "interface "+iif+" or its master is down or missing") {
		return h.res, nil
	}
	h.Step("interface", "in", iif)
	b.checkVethMTU(h, t, ifc)
	if ifc != nil && ifc.Master != "" {
		br := h.Interface(ifc.Master)
		if br != nil && br.Kind == "bridge" && t.NextHop.IsValid() && InterfaceWithAddr(h.Stack, t.NextHop) == nil {
			b.bridged(h, br, iif, t.NextHop)
			return h.res, nil
		}
		iif = br.Name
	}
	h.IIF = iif
	b.prerouting(h, iif)
	return h.res, nil
}

// checkVethMTU compares the MTUs of a veth's two ends: the kernel hands a packet to the peer
// only if it fits the peer's MTU, so an end set lower than the other (a pod's eth0 lowered
// below its path's) drops the other side's full-size packets. TCP adapts through its MSS;
// large UDP datagrams and ICMP echoes are lost. Only a pod's receiving end is checked here:
// a pod's sending end larger than the way out is what the plugins' own MTU checks report.
func (b *BasePluginNode) checkVethMTU(h *Hop, t *Transmission, in *netstack.Interface) {
	if b.Pod == nil || in == nil || in.MTU == 0 || t.Link.Type != model.LinkVeth || t.From == nil || t.Link.FromInterface == "" {
		return
	}
	var sender *netstack.Netstack
	switch t.From.Type {
	case model.NetNodeNode:
		sender = h.Env.NodeStack(t.From.Name)
	case model.NetNodePod:
		namespace, name, _ := strings.Cut(t.From.Name, "/")
		sender = h.Env.PodStack(namespace, name)
	}
	if sender == nil {
		return
	}
	out := sender.InterfaceByName(t.Link.FromInterface)
	if out == nil || out.MTU <= in.MTU {
		return
	}
	h.Suspectf(model.Warning, model.ReasonMTUMismatch, in.Name, "",
		"%s sends packets of up to %d bytes into its veth end %s, but the other end, %s in %s, has MTU %d: larger packets are dropped (TCP adapts through its MSS, large UDP and ICMP packets are lost); give both ends the same MTU",
		t.From.Name, out.MTU, out.Name, in.Name, b.NetNode.Name, in.MTU)
}

// decapsulate checks the outer packet of a vxlan transmission: the underlay takes it, the
// rules let it in, and a vxlan device listens on its port. It returns the vxlan device.
func (b *BasePluginNode) decapsulate(h *Hop, outer model.Packet) (string, bool) {
	under := InterfaceWithAddr(h.Stack, outer.Dst)
	if under == nil {
		h.drop(model.ReasonRouteWrongNode, "", "", "no interface has "+outer.Dst.String(), "The tunnel packet is addressed to %s, which no interface of %s holds", outer.Dst, b.NetNode.Name)
		return "", false
	}
	if !under.Up {
		h.drop(model.ReasonInterfaceDown, under.Name, "", "underlay "+under.Name+" is down", "Underlay interface %s of %s is down: no tunnel traffic arrives", under.Name, b.NetNode.Name)
		return "", false
	}
	oh := h.tunnel(outer)
	for _, hook := range []string{HookPrerouting, HookInput} {
		outs := b.hook(oh, hook, under.Name, "")
		if len(outs) == 0 {
			return "", false
		}
		oh = oh.after(outs[0])
	}
	var vx *netstack.Interface
	for i := range h.Stack.Interfaces {
		ifc := &h.Stack.Interfaces[i]
		if ifc.Kind == "vxlan" && ifc.VXLAN != nil && vxlanPort(ifc.VXLAN) == outer.DstPort {
			vx = ifc
			break
		}
	}
	if vx == nil {
		h.drop(model.ReasonInterfaceMissing, "", "", fmt.Sprintf("no vxlan device on port %d", outer.DstPort), "No vxlan device of %s listens on UDP port %d, so the tunnel packet from %s is dropped", b.NetNode.Name, outer.DstPort, outer.Src)
		return "", false
	}
	if !vx.Up {
		h.drop(model.ReasonInterfaceDown, vx.Name, "", "vxlan device "+vx.Name+" is down", "The vxlan device %s of %s is down, so tunnel packets to it are dropped: bring it up or restart flanneld", vx.Name, b.NetNode.Name)
		return "", false
	}
	h.Step("vxlan", "decapsulate", fmt.Sprintf("%s vni %d from %s", vx.Name, vx.VXLAN.VNI, outer.Src))
	return vx.Name, true
}

func vxlanPort(v *netstack.VXLANAttrs) uint16 {
	if v.Port == 0 {
		// The kernel's default when none is given is the IANA port.
		return 4789
	}
	return uint16(v.Port)
}

// bridged forwards a frame between two ports of a bridge without routing it; iptables sees
// it only when bridge-nf-call-iptables is on.
func (b *BasePluginNode) bridged(h *Hop, br *netstack.Interface, port string, nextHop netip.Addr) {
	h.Step("bridge", "forward", fmt.Sprintf("%s from port %s", br.Name, port))
	if v, _ := h.Sysctl("bridge/bridge-nf-call-iptables"); v == "1" {
		for _, o := range b.hook(h, HookPrerouting, br.Name, "") {
			hb := h.after(o)
			if o.Packet.Dst != h.Packet.Dst {
				// br_netfilter hands a translated frame to the routing code.
				hb.IIF = br.Name
				r, ok := b.route(hb, routeQuery(o.Packet, br.Name))
				if ok {
					b.routed(hb, r, br.Name)
				}
				continue
			}
			for _, f := range b.hook(hb, HookForward, br.Name, br.Name) {
				// br_netfilter lets conntrack see the bridged packet too: a reply's NAT is
				// reversed at POSTROUTING's nat stage.
				for _, p := range b.hook(hb.after(f), HookPostrouting, "", br.Name) {
					b.bridgeOut(hb.after(p), br, nextHop)
				}
			}
		}
		return
	}
	b.bridgeOut(h, br, nextHop)
}

func (b *BasePluginNode) prerouting(h *Hop, iif string) {
	hs := []*Hop{h}
	if a, ok := b.serviceArrival(h, iif); ok {
		if inNetfilter(h.Stack) {
			for _, l := range b.meetService(h, a, HookPrerouting, iif, "") {
				if l.local {
					b.serve(l.hop)
				} else {
					b.postrouting(l.hop, l.route, iif)
				}
			}
			return
		}
		hs = b.proxyService(h, a)
	}
	for _, hh := range hs {
		for _, o := range b.hook(hh, HookPrerouting, iif, "") {
			hb := hh.after(o)
			r, ok := b.route(hb, routeQuery(o.Packet, iif))
			if !ok {
				continue
			}
			b.routed(hb, r, iif)
		}
	}
}

// routed continues after the routing decision of a received packet.
// The lookup itself applies forwarding and reverse path filtering, as the kernel's input
// route does.
func (b *BasePluginNode) routed(h *Hop, r netstack.RouteResult, iif string) {
	if r.Type == netstack.RouteLocal {
		b.input(h, iif)
		return
	}
	for _, o := range b.hook(h, HookForward, iif, r.Device) {
		b.postrouting(h.after(o), r, iif)
	}
}

func (b *BasePluginNode) input(h *Hop, iif string) {
	for _, o := range b.hook(h, HookInput, iif, "") {
		b.serve(h.after(o))
	}
}

func (b *BasePluginNode) postrouting(h *Hop, r netstack.RouteResult, iif string) {
	for _, o := range b.hook(h, HookPostrouting, iif, r.Device) {
		b.egress(h.after(o), r)
	}
}

// serve delivers the packet to this NetNode's sockets.
func (b *BasePluginNode) serve(h *Hop) {
	if h.Reply != "" {
		// The reply is back at the socket that opened the connection.
		h.Step("socket", "reply delivered", "")
		h.res.Ends = append(h.res.Ends, End{Kind: Delivered, NodeID: h.Reply, Packet: h.Packet, Why: "the reply comes back to " + b.NetNode.Name})
		return
	}
	h.Step("socket", "deliver", "")
	if b.Pod != nil && !b.policy(h, false) {
		return
	}
	before := blocking(h.res.Suspicions)
	if err := b.Simple.Serve(h); err != nil {
		h.Suspectf(model.Info, model.ReasonPluginUnknown, "", "", "The plugin could not check delivery at %s: %v", b.NetNode.Name, err)
		h.end(Undecided, "delivery not checked")
		return
	}
	if blocking(h.res.Suspicions) > before {
		h.end(Dropped, "nothing takes the packet at "+b.NetNode.Name)
		return
	}
	b.answer(h)
}

// answer sends the destination's reply back the way the state takes it: its own route,
// the hooks with the connection ESTABLISHED, and conntrack undoing the NAT at every NetNode
// the forward packet was translated at. A connection whose first packet arrives but whose
// reply cannot come back (no route, a rule that drops only the reply, strict rp_filter
// on an asymmetric way) fails as surely as one whose first packet is dropped.
func (b *BasePluginNode) answer(h *Hop) {
	hr := h.with(h.Packet.Reply())
	hr.Conn = nf.Packet{Conn: h.Conn}.Reply().Conn
	hr.Reply, hr.In, hr.IIF = b.NetNode.ID, nil, ""
	hr.Step("socket", "reply", hr.Packet.String())
	r, ok := b.route(hr, routeQuery(hr.Packet, ""))
	if !ok {
		return
	}
	for _, o := range b.hook(hr, HookOutput, "", r.Device) {
		hb := hr.after(o)
		if r.Type == netstack.RouteLocal {
			b.input(hb, "lo")
			continue
		}
		b.postrouting(hb, r, "")
	}
}

func blocking(s []model.Suspicion) int {
	n := 0
	for _, x := range s {
		if x.Blocks() {
			n++
		}
	}
	return n
}

// egress sends the routed packet out of r.Device to the next NetNode the state names.
func (b *BasePluginNode) egress(h *Hop, r netstack.RouteResult) {
	if !h.checked(h.Assert().InterfaceUp(r.Device), "interface "+r.Device+" is down or missing") {
		return
	}
	dev := h.Interface(r.Device)
	nh := r.Gateway
	if !nh.IsValid() {
		nh = h.Packet.Dst
	}
	var next *Transmission
	switch dev.Kind {
	case "vxlan":
		next = b.vxlanOut(h, dev, nh)
	case "bridge":
		next = b.bridgeOut(h, dev, nh)
		return
	case "veth":
		next = b.vethOut(h, dev, nh)
	default:
		next = b.wireOut(h, dev, nh)
	}
	if next == nil {
		return
	}
	b.send(h, next)
}

// send checks the transmission against the plugin's intent and queues it.
func (b *BasePluginNode) send(h *Hop, next *Transmission) {
	next.From = b.NetNode
	next.Packet = h.Packet
	next.Link.Packet = h.Packet
	next.Reply = h.Reply
	if h.Reply != "" {
		// The plugin's intent is for new connections; the reply follows conntrack.
		h.Step("link", "out", fmt.Sprintf("%s %s -> %s (reply)", next.Link.Type, next.Link.FromInterface, next.To.ID))
		h.res.Next = append(h.res.Next, next)
		return
	}
	h.Env.remember(b.NetNode.ID, h.Packet, h.Conn)
	if next.Via == nil {
		next.Via = b.translatedService(h)
	}
	b.compareIntent(h, next)
	h.Step("link", "out", fmt.Sprintf("%s %s -> %s", next.Link.Type, next.Link.FromInterface, next.To.ID))
	h.res.Next = append(h.res.Next, next)
}

// translatedService returns the service NetNode when this NetNode translated the packet
// away from the address of the service the question names.
func (b *BasePluginNode) translatedService(h *Hop) *model.NetNode {
	orig := h.Packet
	if h.In != nil {
		orig = h.In.Packet
	}
	if orig.Dst == h.Packet.Dst {
		return nil
	}
	ep, ok := h.Env.Cluster.IPCache().Lookup(orig.Dst)
	if !ok || ep.Type != model.EndpointService {
		return nil
	}
	return &model.NetNode{ID: model.ServiceID(ep.Namespace, ep.Name), Type: model.NetNodeService, Name: ep.Namespace + "/" + ep.Name}
}

// vxlanOut resolves the tunnel peer as the kernel does: the neighbour entry of the next hop
// on the vxlan device gives the MAC, the fdb entry of that MAC the remote VTEP.
func (b *BasePluginNode) vxlanOut(h *Hop, dev *netstack.Interface, nh netip.Addr) *Transmission {
	// The tunnel peer's entries are the plugin's to write: a missing one is not resolved
	// by ARP.
	if !h.checked(h.Assert().Neighbour(dev.Name, nh, true), "no neighbour entry for "+nh.String()+" on "+dev.Name) {
		return nil
	}
	n := h.Neighbour(dev.Name, nh)
	if n == nil {
		h.end(Undecided, "the neighbours of "+b.NetNode.Name+" were not collected")
		return nil
	}
	if !h.checked(h.Assert().FDB(dev.Name, n.HardwareAddr, netip.Addr{}), "no fdb entry for "+n.HardwareAddr+" on "+dev.Name) {
		return nil
	}
	f := h.FDB(dev.Name, n.HardwareAddr)
	if f == nil {
		h.end(Undecided, "the fdb of "+b.NetNode.Name+" was not collected")
		return nil
	}
	if !f.Dst.IsValid() {
		h.drop(model.ReasonFDBMissing, dev.Name, "", "no fdb entry for "+n.HardwareAddr+" on "+dev.Name,
			"%s has an fdb entry on %s for %s (the MAC of %s) without a remote VTEP, so the packet has nowhere to go", b.NetNode.Name, dev.Name, n.HardwareAddr, nh)
		return nil
	}
	h.Step("vxlan", "encapsulate", fmt.Sprintf("%s: neighbour %s lladdr %s, fdb dst %s", dev.Name, nh, n.HardwareAddr, f.Dst))
	src := dev.VXLAN.Local
	if !src.IsValid() {
		if u := h.Underlay(); u != nil && len(u.Addresses) > 0 {
			src = u.Addresses[0].Addr()
		}
	}
	outer := model.Packet{Src: src, Dst: f.Dst, Protocol: model.UDP, SrcPort: 0, DstPort: vxlanPort(dev.VXLAN)}
	oh := h.tunnel(outer)
	r, ok := b.route(oh, netstack.RouteQuery{Dst: f.Dst, IPProto: 17, DPort: outer.DstPort})
	if !ok {
		return nil
	}
	if r.Type == netstack.RouteLocal {
		h.drop(model.ReasonRoutingLoop, dev.Name, "", "fdb points to this node", "The fdb entry for %s on %s points to %s, an address of %s itself", n.HardwareAddr, dev.Name, f.Dst, b.NetNode.Name)
		return nil
	}
	under := h.Interface(r.Device)
	if under == nil || !under.Up {
		h.drop(model.ReasonInterfaceDown, r.Device, FormatRoute(r.Route), "underlay "+r.Device+" is down", "The tunnel packet to %s leaves by %s, which is down or missing on %s", f.Dst, r.Device, b.NetNode.Name)
		return nil
	}
	peer, ok := h.Env.NodeOf(f.Dst)
	if !ok {
		h.drop(model.ReasonRouteWrongNode, dev.Name, "", "fdb points to "+f.Dst.String()+", no node",
			"The fdb entry for %s on %s points to %s, which is no node's address (a stale entry after a node changed address?)", n.HardwareAddr, dev.Name, f.Dst)
		return nil
	}
	return &Transmission{
		Transmission: model.Transmission{
			To:   nodeNetNode(peer),
			Link: model.Link{Type: model.LinkVXLAN, FromInterface: dev.Name},
		},
		NextHop: nh,
		Outer:   &outer,
	}
}

// bridgeOut delivers to the bridge port whose pod holds the next hop.
func (b *BasePluginNode) bridgeOut(h *Hop, br *netstack.Interface, nh netip.Addr) *Transmission {
	h.checked(h.Assert().Neighbour(br.Name, nh, false), "")
	node := h.Env.Nodes[b.Node]
	if node != nil {
		for i := range node.Pods {
			ps := &node.Pods[i]
			if ps.Pod == nil {
				continue
			}
			for _, ifc := range ps.Interfaces {
				if !slices.ContainsFunc(ifc.Addresses, func(p netip.Prefix) bool { return p.Addr() == nh }) || ifc.Veth == nil {
					continue
				}
				port := InterfaceByIndex(h.Stack, ifc.Veth.PeerIndex)
				if port == nil || port.Master != br.Name {
					continue
				}
				if !port.Up {
					h.drop(model.ReasonInterfaceDown, port.Name, "", "port "+port.Name+" is down", "Port %s of bridge %s, the veth of pod %s/%s, is down", port.Name, br.Name, ps.Pod.Namespace, ps.Pod.Name)
					return nil
				}
				pod := h.Env.Cluster.Pod(ps.Pod.Namespace, ps.Pod.Name)
				t := &Transmission{
					Transmission: model.Transmission{
						To:   podNetNode(ps.Pod.Namespace, ps.Pod.Name, b.Node),
						Link: model.Link{Type: model.LinkVeth, FromInterface: port.Name, ToInterface: ifc.Name},
					},
					NextHop: nh,
				}
				_ = pod
				h.Step("bridge", "forward", fmt.Sprintf("%s port %s to %s", br.Name, port.Name, nh))
				b.send(h, t)
				return t
			}
		}
	}
	if ep, ok := h.Env.Cluster.IPCache().Lookup(nh); ok && ep.Type == model.EndpointPod && ep.Node == b.Node {
		h.Suspectf(model.Info, model.ReasonSnapshotMissing, br.Name, "", "The namespace of pod %s/%s was not collected, so its port on %s is not checked", ep.Namespace, ep.Name, br.Name)
		t := &Transmission{
			Transmission: model.Transmission{
				To:   podNetNode(ep.Namespace, ep.Name, b.Node),
				Link: model.Link{Type: model.LinkVeth, FromInterface: br.Name},
			},
			NextHop: nh,
		}
		b.send(h, t)
		return t
	}
	h.drop(model.ReasonNeighbourMissing, br.Name, "", "no pod on "+br.Name+" has "+nh.String(),
		"No pod on bridge %s of %s holds %s, so nothing answers ARP for it (a deleted pod whose address is still used?)", br.Name, b.Node, nh)
	return nil
}

// vethOut crosses a veth pair: from a pod to its node, or from a node to the pod whose end
// is the peer.
func (b *BasePluginNode) vethOut(h *Hop, dev *netstack.Interface, nh netip.Addr) *Transmission {
	if b.Pod != nil {
		to := ""
		if dev.Veth != nil {
			if host := h.Env.NodeStack(b.Node); host != nil {
				if peer := InterfaceByIndex(host, dev.Veth.PeerIndex); peer != nil {
					to = peer.Name
					if !b.bridgedNextHopAnswers(h, host, peer, dev, nh) {
						return nil
					}
				}
			}
		}
		return &Transmission{
			Transmission: model.Transmission{To: nodeNetNode(b.Node), Link: model.Link{Type: model.LinkVeth, FromInterface: dev.Name, ToInterface: to}},
			NextHop:      nh,
		}
	}
	if node := h.Env.Nodes[b.Node]; node != nil {
		for i := range node.Pods {
			ps := &node.Pods[i]
			for _, ifc := range ps.Interfaces {
				if ifc.Veth != nil && ifc.Veth.PeerIndex == dev.Index && ps.Pod != nil {
					return &Transmission{
						Transmission: model.Transmission{To: podNetNode(ps.Pod.Namespace, ps.Pod.Name, b.Node), Link: model.Link{Type: model.LinkVeth, FromInterface: dev.Name, ToInterface: ifc.Name}},
						NextHop:      nh,
					}
				}
			}
		}
	}
	if ep, ok := h.Env.Cluster.IPCache().Lookup(nh); ok && ep.Type == model.EndpointPod && ep.Node == b.Node && dev.Master == "" {
		// A routed veth to a pod whose namespace was not collected.
		return &Transmission{
			Transmission: model.Transmission{To: podNetNode(ep.Namespace, ep.Name, b.Node), Link: model.Link{Type: model.LinkVeth, FromInterface: dev.Name}},
			NextHop:      nh,
		}
	}
	// A veth whose peer is no pod is a wire to another namespace: the node's uplink.
	return b.wireOut(h, dev, nh)
}

// bridgedNextHopAnswers checks, for a pod whose veth's host end is a bridge port, that
// something on that bridge answers ARP for the next hop: the node (any of its addresses, as
// with the default arp_ignore=0), a pod on the node, or proxy ARP on the bridge, unless the
// pod already holds a usable neighbour entry for it. A gateway nobody holds (a typo in the
// pod's routes) never resolves and the packet is never sent. Routed veths (calico) answer by
// proxy ARP, which their plugin checks.
func (b *BasePluginNode) bridgedNextHopAnswers(h *Hop, host *netstack.Netstack, port, dev *netstack.Interface, nh netip.Addr) bool {
	if port.Master == "" || host.PartError("links") != nil {
		return true
	}
	if nb := h.Neighbour(dev.Name, nh); nb != nil && nb.Usable() {
		return true
	}
	if InterfaceWithAddr(host, nh) != nil || host.IPv4Conf("all", "proxy_arp") != 0 || host.IPv4Conf(port.Master, "proxy_arp") != 0 {
		return true
	}
	if ep, ok := h.Env.Cluster.IPCache().Lookup(nh); ok && ep.Type == model.EndpointPod && ep.Node == b.Node {
		return true
	}
	gw := ""
	if br := host.InterfaceByName(port.Master); br != nil && len(br.Addresses) > 0 {
		gw = fmt.Sprintf(" (the node's address on %s is %s)", br.Name, br.Addresses[0].Addr())
	}
	h.drop(model.ReasonNeighbourMissing, dev.Name, "", "nothing on "+port.Master+" answers ARP for "+nh.String(),
		"%s sends %s to next hop %s on %s, but nothing on bridge %s of %s holds %s (not the node, no pod, no proxy ARP), so ARP for it fails and the packet is never sent: fix the pod's route%s",
		b.NetNode.Name, h.Packet, nh, dev.Name, port.Master, b.Node, nh, gw)
	return false
}

// wireOut sends the packet onto a physical or virtual wire: to the node that holds the next
// hop, or out of the cluster.
func (b *BasePluginNode) wireOut(h *Hop, dev *netstack.Interface, nh netip.Addr) *Transmission {
	h.checked(h.Assert().Neighbour(dev.Name, nh, false), "")
	if peer, ok := h.Env.NodeOf(nh); ok && peer != b.Node {
		to := ""
		if ps := h.Env.NodeStack(peer); ps != nil {
			if ifc := InterfaceWithAddr(ps, nh); ifc != nil {
				to = ifc.Name
			}
		}
		return &Transmission{
			Transmission: model.Transmission{To: nodeNetNode(peer), Link: model.Link{Type: model.LinkHost, FromInterface: dev.Name, ToInterface: to}},
			NextHop:      nh,
		}
	}
	ext := h.Packet.Dst
	if _, inCluster := h.Env.Cluster.IPCache().Lookup(h.Packet.Dst); inCluster && nh != h.Packet.Dst {
		// The packet is for the cluster but leaves for a router outside it: name the router.
		ext = nh
	}
	return &Transmission{
		Transmission: model.Transmission{
			To:   &model.NetNode{ID: model.ExternalID(ext), Type: model.NetNodeExternal, Name: ext.String()},
			Link: model.Link{Type: model.LinkExternal, FromInterface: dev.Name},
		},
		NextHop: nh,
	}
}

// compareIntent asks the plugin where it meant the packet to go and reports a divergence.
func (b *BasePluginNode) compareIntent(h *Hop, next *Transmission) {
	in, err := b.intent(h)
	if err != nil {
		h.Suspectf(model.Info, model.ReasonPluginUnknown, "", "", "The plugin could not say where it sends %s from %s: %v", h.Packet, b.NetNode.Name, err)
		return
	}
	if in == nil || in.Next == "" || in.Next == next.To.ID {
		return
	}
	if ifc := h.Interface(in.Device); ifc != nil && !ifc.Up {
		h.Suspectf(model.Critical, model.ReasonInterfaceDown, ifc.Name, "",
			"Interface %s of %s is down, so the kernel no longer routes by it and the packet goes elsewhere: bring it up (ip link set %s up)", ifc.Name, b.NetNode.Name, ifc.Name)
	}
	h.Suspectf(model.Warning, model.ReasonPathDiverges, next.Link.FromInterface, "",
		"The data plane sends %s from %s to %s by %s, but %s: the packet takes another way than Kubernetes intends",
		h.Packet, b.NetNode.Name, next.To.ID, next.Link.FromInterface, intentText(in))
}

func intentText(in *Intent) string {
	s := "the plugin intends " + in.Next
	if in.Device != "" {
		s += " by " + in.Device
	}
	if in.Gateway.IsValid() {
		s += " via " + in.Gateway.String()
	}
	if in.Why != "" {
		s += " (" + in.Why + ")"
	}
	return s
}

// intent classifies the packet's destination and asks the plugin.
func (b *BasePluginNode) intent(h *Hop) (*Intent, error) {
	ep, ok := h.Env.Cluster.IPCache().Lookup(h.Packet.Dst)
	if !ok {
		return b.Simple.ToExternal(h)
	}
	switch ep.Type {
	case model.EndpointPod:
		pod := h.Env.Cluster.Pod(ep.Namespace, ep.Name)
		if pod == nil {
			return nil, nil
		}
		return b.Simple.ToPod(h, pod)
	case model.EndpointNode:
		node := h.Env.Cluster.Node(ep.Name)
		if node == nil {
			return nil, nil
		}
		return b.Simple.ToHost(h, node)
	case model.EndpointService:
		svc := h.Env.Cluster.Service(ep.Namespace, ep.Name)
		if svc == nil {
			return nil, nil
		}
		return b.Simple.ToService(h, svc)
	}
	return b.Simple.ToExternal(h)
}

// followIntent moves the packet on where the plugin intends when the NetNode's state was
// not collected: the rest of the path is still checked, but this hop lowers confidence.
func (b *BasePluginNode) followIntent(h *Hop) error {
	h.Suspectf(model.Info, model.ReasonSnapshotMissing, "", "", "The network state of %s was not collected, so its part of the path is assumed, not checked", b.NetNode.Name)
	in, err := b.intent(h)
	if err != nil {
		return fmt.Errorf("intent of %s for %s: %w", b.NetNode.ID, h.Packet, err)
	}
	if in == nil || in.Next == "" {
		h.end(Undecided, b.NetNode.Name+" not collected")
		return nil
	}
	if in.Next == b.NetNode.ID {
		if err := b.Simple.Serve(h); err != nil {
			return fmt.Errorf("serve at %s: %w", b.NetNode.ID, err)
		}
		h.end(Undecided, b.NetNode.Name+" not collected")
		return nil
	}
	to := b.netNodeByID(in.Next)
	if to == nil {
		h.end(Undecided, b.NetNode.Name+" not collected")
		return nil
	}
	lt := model.LinkHost
	switch {
	case to.Type == model.NetNodePod || b.Pod != nil:
		lt = model.LinkVeth
	case to.Type == model.NetNodeExternal:
		lt = model.LinkExternal
	}
	h.Step("intent", "assume", intentText(in))
	h.res.Next = append(h.res.Next, &Transmission{
		Transmission: model.Transmission{From: b.NetNode, To: to, Packet: h.Packet, Link: model.Link{Type: lt, FromInterface: in.Device, Packet: h.Packet}},
		NextHop:      in.Gateway,
	})
	return nil
}

func (b *BasePluginNode) netNodeByID(id string) *model.NetNode {
	switch {
	case strings.HasPrefix(id, "node/"):
		return nodeNetNode(strings.TrimPrefix(id, "node/"))
	case strings.HasPrefix(id, "pod/"):
		nsName := strings.SplitN(strings.TrimPrefix(id, "pod/"), "/", 2)
		if len(nsName) != 2 {
			return nil
		}
		node := ""
		if p := b.Env.Cluster.Pod(nsName[0], nsName[1]); p != nil {
			node = p.Spec.NodeName
		}
		return podNetNode(nsName[0], nsName[1], node)
	case strings.HasPrefix(id, "external/"):
		return &model.NetNode{ID: id, Type: model.NetNodeExternal, Name: strings.TrimPrefix(id, "external/")}
	}
	return nil
}

func nodeNetNode(name string) *model.NetNode {
	return &model.NetNode{ID: model.NodeID(name), Type: model.NetNodeNode, Name: name, Node: name}
}

func podNetNode(namespace, name, node string) *model.NetNode {
	return &model.NetNode{ID: model.PodID(namespace, name), Type: model.NetNodePod, Name: namespace + "/" + name, Node: node}
}

// NodeNetNode and PodNetNode build the NetNodes of a node and a pod.
func NodeNetNode(name string) *model.NetNode { return nodeNetNode(name) }

// PodNetNode builds the NetNode of a pod.
func PodNetNode(namespace, name, node string) *model.NetNode {
	return podNetNode(namespace, name, node)
}
