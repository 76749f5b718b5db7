package calico

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/nf"
	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/plugin/hop"
)

// ipipProtocol is IP-in-IP as iptables-save names IP protocol 4 (ipencap in /etc/protocols).
const ipipProtocol model.Protocol = "IPENCAP"

// ipip is the device kind of calico's IP-in-IP device (tunl0), which the shared hop does not
// know: the inner packet goes to the node that holds the route's gateway in an outer header
// that the underlay must route and the node's rules must pass, and the peer takes it in by
// its own ipip device.
type ipip struct {
	plugin *Plugin
}

var _ hop.Tunnel = ipip{}

func (ipip) LinkType() model.LinkType { return model.LinkIPIP }

// Out encapsulates the packet routed out of dev towards the peer node that holds nh.
func (t ipip) Out(p *hop.Pipeline, h *plugin.Hop, dev *netstack.Interface, nh netip.Addr) hop.Decision {
	d := hop.Link{}.Out(p, h, dev, nh)
	if d.Action != hop.Emit || d.Out.To.Type != model.NetNodeNode {
		return d
	}
	remote := nh
	if dev.IPIP != nil && dev.IPIP.Remote.IsValid() {
		remote = dev.IPIP.Remote
	}
	outer := model.Packet{Dst: remote, Protocol: ipipProtocol}
	r := h.Stack.LookupRoute(netstack.RouteQuery{Dst: remote, IPProto: 4})
	fail := func(reason model.Reason, iface, rule, why, format string, args ...any) hop.Decision {
		h.Suspect(model.Suspicion{Level: model.Critical, Reason: reason, Interface: iface, Rule: rule, Message: fmt.Sprintf(format, args...)})
		h.Stop(hop.Dropped, why)
		return hop.Stopped()
	}
	switch {
	case !r.Routed():
		return fail(model.ReasonRouteMissing, dev.Name, strings.Join(r.Trace, "; "), "no route for the tunnel to "+remote.String(),
			"The IP-in-IP packet to %s cannot be routed on %s (%s): the underlay has no way to the peer", remote, p.Node, r.Reject)
	case r.Type == netstack.RouteLocal || r.Device == dev.Name:
		return fail(model.ReasonRoutingLoop, dev.Name, hop.FormatRoute(r.Route), "the tunnel routes into itself",
			"The IP-in-IP packet to %s would leave %s by %s again (%s): the tunnel's remote must be reached over the underlay", remote, p.Node, r.Device, hop.FormatRoute(r.Route))
	}
	under := h.Stack.InterfaceByName(r.Device)
	if under == nil || !under.Up {
		return fail(model.ReasonInterfaceDown, r.Device, hop.FormatRoute(r.Route), "underlay "+r.Device+" is down",
			"The IP-in-IP packet to %s leaves by %s, which is down or missing on %s", remote, r.Device, p.Node)
	}
	switch {
	case dev.IPIP != nil && dev.IPIP.Local.IsValid():
		outer.Src = dev.IPIP.Local
	case r.Src.IsValid():
		outer.Src = r.Src
	case len(under.Addresses) > 0:
		outer.Src = under.Addresses[0].Addr()
	}
	ok := true
	for _, hook := range []nf.Hook{nf.Output, nf.PostRouting} {
		if outer, ok = t.tunnelHook(p, h, hook, outer, "", under.Name); !ok {
			return hop.Stopped()
		}
	}
	tr := d.Out
	tr.Link.Type = model.LinkIPIP
	tr.Link.ToInterface = DefaultIPIPDevice
	if peer := ipipDevice(t.plugin.env.NodeStack(tr.To.Name)); peer != nil {
		tr.Link.ToInterface = peer.Name
	}
	tr.Outer = &outer
	h.Step("ipip", "encapsulate", fmt.Sprintf("%s: %s -> %s by %s", dev.Name, outer.Src, outer.Dst, under.Name))
	return d
}

// In checks the outer header of an IP-in-IP transmission at the receiving node: the
// underlay holds its address, the rules let IP protocol 4 in, and an ipip device takes it.
func (t ipip) In(p *hop.Pipeline, h *plugin.Hop, outer model.Packet) (string, bool) {
	under, ok := p.Underlay(h, outer, "IP-in-IP packet")
	if !ok {
		return "", false
	}
	for _, hook := range []nf.Hook{nf.PreRouting, nf.Input} {
		if outer, ok = t.tunnelHook(p, h, hook, outer, under.Name, ""); !ok {
			return "", false
		}
	}
	tun := ipipDevice(h.Stack)
	switch {
	case tun == nil:
		h.Suspect(model.Suspicion{Level: model.Critical, Reason: model.ReasonInterfaceMissing, Interface: DefaultIPIPDevice,
			Message: fmt.Sprintf("%s has no IP-in-IP device, so the kernel does not take the tunnel packet from %s (is the ipip module loaded?)", p.Node, outer.Src)})
		h.Stop(hop.Dropped, "no ipip device")
		return "", false
	case !tun.Up:
		h.Suspect(model.Suspicion{Level: model.Critical, Reason: model.ReasonInterfaceDown, Interface: tun.Name,
			Message: fmt.Sprintf("The IP-in-IP device %s of %s is down, so tunnel packets to it are dropped: bring it up (ip link set %s up)", tun.Name, p.Node, tun.Name)})
		h.Stop(hop.Dropped, "ipip device "+tun.Name+" is down")
		return "", false
	}
	h.Step("ipip", "decapsulate", fmt.Sprintf("%s from %s", tun.Name, outer.Src))
	return tun.Name, true
}

// tunnelHook runs a tunnel's outer packet through one hook of the node's rules, a flow of
// its own. A DROP of the tunnel (felix drops IP-in-IP from hosts it does not know) ends the
// inner packet's branch here.
func (t ipip) tunnelHook(p *hop.Pipeline, h *plugin.Hop, hook nf.Hook, outer model.Packet, in, out string) (model.Packet, bool) {
	if h.Stack.IPTables == "" && h.Stack.NFTables == "" {
		return outer, true
	}
	filter, err := h.Env.Filter(h.Stack)
	if err != nil {
		h.Suspect(model.Suspicion{Level: model.Info, Reason: model.ReasonRuleNotUnderstood,
			Message: fmt.Sprintf("The netfilter rules of %s could not be read (%v), so they are not evaluated for the tunnel packet", p.Node, err)})
	}
	if filter == nil {
		return outer, true
	}
	oh := h.Tunnel(outer)
	outs := filter.Traverse(hook, oh.NFPacket(in, out))
	if len(outs) == 0 {
		return outer, true
	}
	o := &outs[0]
	rule := hop.Decider(o)
	for _, r := range o.NotUnderstood() {
		h.Suspect(model.Suspicion{Level: model.Info, Reason: model.ReasonRuleNotUnderstood, Rule: r,
			Message: fmt.Sprintf("A rule of %s in %s uses a match or target the engine does not understand; it was not applied to the tunnel packet", p.Node, hook)})
	}
	where := strings.Join(o.TraceLines(), " -> ")
	if where == "" {
		where = rule
	}
	endWith := func(kind hop.EndKind, s model.Suspicion, why string) (model.Packet, bool) {
		h.Suspect(s)
		h.Stop(kind, why)
		oh.Step("netfilter", hook.String()+" "+hop.VerdictWord(o.Verdict), rule)
		return outer, false
	}
	switch o.Verdict {
	case nf.Accept:
		return o.Packet.Model(), true
	case nf.Drop:
		return endWith(hop.Dropped, model.Suspicion{Level: model.Critical, Reason: hop.DropReason(o), Interface: in + out, Rule: rule,
			Message: fmt.Sprintf("An %s rule of %s drops the IP-in-IP tunnel packet from %s to %s in %s: %s", hop.RulesetName(o), p.Node, outer.Src, outer.Dst, hook, where)},
			hop.RulesetName(o)+" "+hook.String()+" drops the tunnel packet")
	case nf.Reject:
		return endWith(hop.Dropped, model.Suspicion{Level: model.Critical, Reason: hop.RejectReason(o), Interface: in + out, Rule: rule,
			Message: fmt.Sprintf("An %s rule of %s rejects the IP-in-IP tunnel packet from %s to %s in %s: %s", hop.RulesetName(o), p.Node, outer.Src, outer.Dst, hook, where)},
			hop.RulesetName(o)+" "+hook.String()+" rejects the tunnel packet")
	}
	return endWith(hop.Undecided, model.Suspicion{Level: model.Info, Reason: model.ReasonRuleNotUnderstood, Rule: rule,
		Message: fmt.Sprintf("Whether %s lets the IP-in-IP tunnel packet through %s depends on a rule the engine does not understand", p.Node, hook)},
		"a rule of "+p.Node+" is not understood")
}
