package hop

import (
	"fmt"
	"net/netip"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

// Device is a kind of egress device: how a packet the route sends out of one leaves the
// NetNode. Out resolves the next NetNode for the packet in h, routed out of dev towards the
// next hop nh, and returns Emit with the transmission, or Drop when the branch ended (with
// what it recorded on h).
type Device interface {
	Out(p *Pipeline, h *Hop, dev *netstack.Interface, nh netip.Addr) Decision
}

// Tunnel is a Device whose packets travel in an outer header (Transmission.Outer) that the
// peer takes in: In checks the outer packet at the receiving NetNode and returns the device
// the inner packet enters by; false when the branch ended there.
type Tunnel interface {
	Device
	LinkType() model.LinkType
	In(p *Pipeline, h *Hop, outer model.Packet) (string, bool)
}

// sharedDevices are the device kinds every plugin's hop knows; a plain link (a physical
// NIC, or anything else) is the kind of the rest.
var sharedDevices = map[string]Device{"vxlan": VXLAN{}, "bridge": Bridge{}, "veth": Veth{}}

// device is the kind of dev: the plugin's, else a shared one, else a plain link.
func (p *Pipeline) device(kind string) Device {
	if d, ok := p.Ext.Devices[kind]; ok {
		return d
	}
	if d, ok := sharedDevices[kind]; ok {
		return d
	}
	return Link{}
}

// devices are every kind the hop knows, the plugin's first.
func (p *Pipeline) devices() []Device {
	out := make([]Device, 0, len(p.Ext.Devices)+len(sharedDevices))
	for _, d := range p.Ext.Devices {
		out = append(out, d)
	}
	for _, d := range sharedDevices {
		out = append(out, d)
	}
	return out
}

// egress is the last stage: the routed packet leaves by r.Device, as its kind sends it.
func (p *Pipeline) egress(h *Hop, r netstack.RouteResult) Decision {
	if !h.checked(h.Assert().InterfaceUp(r.Device), "interface "+r.Device+" is down or missing") {
		return Stopped()
	}
	dev := h.Interface(r.Device)
	if !p.fitsOut(h, dev) {
		return Stopped()
	}
	nh := r.Gateway
	if !nh.IsValid() {
		nh = h.Packet.Dst
	}
	return p.emit(h, p.device(dev.Kind).Out(p, h, dev, nh))
}

// emit sends the transmission of an Emit decision.
func (p *Pipeline) emit(h *Hop, d Decision) Decision {
	if d.Action != Emit || d.Out == nil {
		return d
	}
	if !p.send(h, d.Out) {
		return Stopped()
	}
	return d
}

// send checks the transmission against the plugin's intent and the plugin's checks on what
// leaves, and queues it; false when a check ended the branch.
func (p *Pipeline) send(h *Hop, next *Transmission) bool {
	next.From = p.NetNode
	next.Packet = h.Packet
	next.Link.Packet = h.Packet
	next.Reply = h.Reply
	next.Size = h.Size
	if h.Reply != "" {
		// The plugin's intent is for new connections; the reply follows conntrack.
		h.Step("link", "out", fmt.Sprintf("%s %s -> %s (reply)", next.Link.Type, next.Link.FromInterface, next.To.ID))
		return p.queue(h, next)
	}
	h.Env.remember(p.NetNode.ID, h.Packet, h.Conn)
	if next.Via == nil {
		next.Via = translatedService(h)
	}
	p.compareIntent(h, next)
	h.Step("link", "out", fmt.Sprintf("%s %s -> %s", next.Link.Type, next.Link.FromInterface, next.To.ID))
	return p.queue(h, next)
}

// queue runs the plugin's checks on a transmission about to leave and adds it to the
// result.
func (p *Pipeline) queue(h *Hop, next *Transmission) bool {
	for _, check := range p.Ext.Emitting {
		if !check(h, next) {
			return false
		}
	}
	h.res.Next = append(h.res.Next, next)
	return true
}

// translatedService returns the service NetNode when this NetNode translated the packet
// away from the address of the service the question names.
func translatedService(h *Hop) *model.NetNode {
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
