package hop

import (
	"fmt"
	"net/netip"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// VXLAN is the device kind of a vxlan device: the inner frame goes to the remote VTEP the
// fdb names, in a UDP packet over the underlay, and the peer's vxlan device on that port
// takes it in.
type VXLAN struct{}

var _ Tunnel = VXLAN{}

// LinkType is the link of vxlan transmissions.
func (VXLAN) LinkType() model.LinkType { return model.LinkVXLAN }

// Out encapsulates towards the VTEP of the next hop.
func (VXLAN) Out(p *Pipeline, h *Hop, dev *netstack.Interface, nh netip.Addr) Decision {
	n, f, ok := p.resolveVTEP(h, dev, nh)
	if !ok {
		return Stopped()
	}
	h.Step("vxlan", "encapsulate", fmt.Sprintf("%s: neighbour %s lladdr %s, fdb dst %s", dev.Name, nh, n.HardwareAddr, f.Dst))
	src := dev.VXLAN.Local
	if !src.IsValid() {
		if u := h.Underlay(); u != nil && len(u.Addresses) > 0 {
			src = u.Addresses[0].Addr()
		}
	}
	outer := model.Packet{Src: src, Dst: f.Dst, Protocol: model.UDP, SrcPort: 0, DstPort: vxlanPort(dev.VXLAN)}
	oh := h.Tunnel(outer)
	r, ok := p.Route(oh, netstack.RouteQuery{Dst: f.Dst, IPProto: 17, DPort: outer.DstPort})
	if !ok {
		return Stopped()
	}
	if r.Type == netstack.RouteLocal {
		h.drop(model.ReasonRoutingLoop, dev.Name, "", "fdb points to this node", "The fdb entry for %s on %s points to %s, an address of %s itself", n.HardwareAddr, dev.Name, f.Dst, p.NetNode.Name)
		return Stopped()
	}
	under := h.Interface(r.Device)
	if under == nil || !under.Up {
		h.drop(model.ReasonInterfaceDown, r.Device, FormatRoute(r.Route), "underlay "+r.Device+" is down", "The tunnel packet to %s leaves by %s, which is down or missing on %s", f.Dst, r.Device, p.NetNode.Name)
		return Stopped()
	}
	peer, ok := h.Env.NodeOf(f.Dst)
	if !ok {
		h.drop(model.ReasonRouteWrongNode, dev.Name, "", "fdb points to "+f.Dst.String()+", no node",
			"The fdb entry for %s on %s points to %s, which is no node's address (a stale entry after a node changed address?)", n.HardwareAddr, dev.Name, f.Dst)
		return Stopped()
	}
	return Emitted(&Transmission{
		Transmission: model.Transmission{
			To:   NodeNetNode(peer),
			Link: model.Link{Type: model.LinkVXLAN, FromInterface: dev.Name},
		},
		NextHop: nh,
		Outer:   &outer,
	})
}

// In checks the outer packet at the peer: the underlay takes it, the rules let it in, and a
// vxlan device listens on its port. It returns the vxlan device.
func (VXLAN) In(p *Pipeline, h *Hop, outer model.Packet) (string, bool) {
	under, ok := p.Underlay(h, outer, "tunnel packet")
	if !ok {
		return "", false
	}
	oh := h.Tunnel(outer)
	for _, hook := range []nf.Hook{nf.PreRouting, nf.Input} {
		outs := p.hook(oh, hook, under.Name, "")
		if len(outs) == 0 {
			return "", false
		}
		oh = oh.After(&outs[0])
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
		h.drop(model.ReasonInterfaceMissing, "", "", fmt.Sprintf("no vxlan device on port %d", outer.DstPort), "No vxlan device of %s listens on UDP port %d, so the tunnel packet from %s is dropped", p.NetNode.Name, outer.DstPort, outer.Src)
		return "", false
	}
	if !vx.Up {
		h.drop(model.ReasonInterfaceDown, vx.Name, "", "vxlan device "+vx.Name+" is down", "The vxlan device %s of %s is down, so tunnel packets to it are dropped: bring it up or restart flanneld", vx.Name, p.NetNode.Name)
		return "", false
	}
	h.Step("vxlan", "decapsulate", fmt.Sprintf("%s vni %d from %s", vx.Name, vx.VXLAN.VNI, outer.Src))
	return vx.Name, true
}

// Underlay is the receive side's first check of a tunnel packet (what names it in the
// message): an interface holds its destination and is up. It returns that interface; false
// when the branch ended.
func (p *Pipeline) Underlay(h *Hop, outer model.Packet, what string) (*netstack.Interface, bool) {
	under := InterfaceWithAddr(h.Stack, outer.Dst)
	if under == nil {
		h.drop(model.ReasonRouteWrongNode, "", "", "no interface has "+outer.Dst.String(), "The %s is addressed to %s, which no interface of %s holds", what, outer.Dst, p.NetNode.Name)
		return nil, false
	}
	if !under.Up {
		h.drop(model.ReasonInterfaceDown, under.Name, "", "underlay "+under.Name+" is down", "Underlay interface %s of %s is down: no tunnel traffic arrives", under.Name, p.NetNode.Name)
		return nil, false
	}
	return under, true
}

func vxlanPort(v *netstack.VXLANAttrs) uint16 {
	if v.Port == 0 {
		// The kernel's default when none is given is the IANA port.
		return 4789
	}
	return uint16(v.Port)
}
