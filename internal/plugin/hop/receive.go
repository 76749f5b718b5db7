package hop

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// receive is the first stage of a packet from the wire: a tunnel's outer header is taken
// in by the Tunnel of the link's type, the interface must be up, a veth's ends must agree on
// the MTU, and a frame a bridge port receives for another host is bridged, not routed. It
// returns the interface the kernel sees the packet come in by (a bridge port's master) and
// Continue, or the decision of the bridge (Emit) or of a check that stopped it (Drop).
func (p *Pipeline) receive(h *Hop, t *Transmission) (string, Decision) {
	iif := t.Link.ToInterface
	if t.Outer != nil {
		var ok bool
		if iif, ok = p.decapsulate(h, t); !ok {
			return "", Stopped()
		}
	}
	ifc := h.Interface(iif)
	if iif == "" {
		h.Suspectf(model.Info, model.ReasonSnapshotMissing, "", "", "The interface the packet enters %s by is not known (the sender's side was not collected); the checks that depend on it are skipped", p.NetNode.Name)
	} else if !h.checked(h.Assert().InterfaceUp(iif), "interface "+iif+" or its master is down or missing") {
		return "", Stopped()
	}
	h.Step("interface", "in", iif)
	p.checkVethMTU(h, t, ifc)
	if !p.fitsIn(h, t, ifc) {
		return "", Stopped()
	}
	if ifc != nil && ifc.Master != "" {
		br := h.Interface(ifc.Master)
		if br != nil && br.Kind == "bridge" && t.NextHop.IsValid() && InterfaceWithAddr(h.Stack, t.NextHop) == nil {
			return "", p.bridged(h, br, iif, t.NextHop)
		}
		iif = br.Name
	}
	return iif, Decision{Action: Continue}
}

// decapsulate hands a tunnel's outer packet to the Tunnel registered for the link's type,
// which checks it and names the device the inner packet enters by.
func (p *Pipeline) decapsulate(h *Hop, t *Transmission) (string, bool) {
	for _, d := range p.devices() {
		if tun, ok := d.(Tunnel); ok && tun.LinkType() == t.Link.Type {
			return tun.In(p, h, *t.Outer)
		}
	}
	h.Suspectf(model.Info, model.ReasonPluginUnknown, "", "", "%s receives a %s tunnel packet, which no device kind of its plugin takes in", p.NetNode.Name, t.Link.Type)
	h.end(Undecided, "the "+string(t.Link.Type)+" tunnel is not simulated")
	return "", false
}

// checkVethMTU compares the MTUs of a veth's two ends: the kernel hands a packet to the peer
// only if it fits the peer's MTU, so an end set lower than the other drops the other side's
// full-size packets. Both directions count: a pod's eth0 lowered below its path's, and a
// node's end of a pod's veth lower than the pod's eth0 (calico sets the host end's MTU
// itself), which drops the pod's own large packets as they leave it. TCP adapts through its
// MSS; large UDP datagrams and ICMP echoes are lost.
func (p *Pipeline) checkVethMTU(h *Hop, t *Transmission, in *netstack.Interface) {
	if in == nil || in.MTU == 0 || t.Link.Type != model.LinkVeth || t.From == nil || t.Link.FromInterface == "" {
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
		t.From.Name, out.MTU, out.Name, in.Name, p.NetNode.Name, in.MTU)
}

// bridged forwards a frame between two ports of a bridge without routing it; iptables sees
// it only when bridge-nf-call-iptables is on.
func (p *Pipeline) bridged(h *Hop, br *netstack.Interface, port string, nextHop netip.Addr) Decision {
	h.Step("bridge", "forward", fmt.Sprintf("%s from port %s", br.Name, port))
	if v, _ := h.Sysctl("bridge/bridge-nf-call-iptables"); v == "1" {
		for _, o := range p.hook(h, nf.PreRouting, br.Name, "") {
			hb := h.After(&o)
			if hb.Packet.Dst != h.Packet.Dst {
				// br_netfilter hands a translated frame to the routing code.
				hb.IIF = br.Name
				r, ok := p.Route(hb, routeQuery(hb.Packet, br.Name))
				if ok {
					p.routed(hb, r, br.Name)
				}
				continue
			}
			for _, f := range p.hook(hb, nf.Forward, br.Name, br.Name) {
				// br_netfilter lets conntrack see the bridged packet too: a reply's NAT is
				// reversed at POSTROUTING's nat stage.
				for _, o := range p.hook(hb.After(&f), nf.PostRouting, "", br.Name) {
					hp := hb.After(&o)
					p.emit(hp, Bridge{}.Out(p, hp, br, nextHop))
				}
			}
		}
		return Decision{Action: Emit}
	}
	return p.emit(h, Bridge{}.Out(p, h, br, nextHop))
}
