package calico

import (
	"fmt"
	"slices"
	"strings"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/nf"
	"github.com/netdiag/netdiag/internal/plugin"
)

// encapsulate turns each transmission this node routed out of an IP-in-IP device into a
// tunnel packet: the outer header to the route's gateway must be routable by the underlay
// and pass OUTPUT and POSTROUTING, and the peer takes it in by its own ipip device.
func (a *nodeAction) encapsulate(res *plugin.HopResult, stack *netstack.Netstack) {
	id := a.base.NetNode.ID
	for _, t := range slices.Clone(res.Next) {
		if t.From == nil || t.From.ID != id || t.To == nil || t.To.Type != model.NetNodeNode {
			continue
		}
		dev := stack.InterfaceByName(t.Link.FromInterface)
		if dev == nil || dev.Kind != "ipip" {
			continue
		}
		remote := t.NextHop
		if dev.IPIP != nil && dev.IPIP.Remote.IsValid() {
			remote = dev.IPIP.Remote
		}
		outer := model.Packet{Dst: remote, Protocol: ipipProtocol}
		r := stack.LookupRoute(netstack.RouteQuery{Dst: remote, IPProto: 4})
		fail := func(reason model.Reason, iface, rule, why, format string, args ...any) {
			dropTransmission(res, t, model.Suspicion{Level: model.Critical, Reason: reason, Node: a.node.Name, Interface: iface, Rule: rule, Message: fmt.Sprintf(format, args...)}, why)
		}
		switch {
		case !r.Routed():
			fail(model.ReasonRouteMissing, dev.Name, strings.Join(r.Trace, "; "), "no route for the tunnel to "+remote.String(),
				"The IP-in-IP packet to %s cannot be routed on %s (%s): the underlay has no way to the peer", remote, a.node.Name, r.Reject)
			continue
		case r.Type == netstack.RouteLocal || r.Device == dev.Name:
			fail(model.ReasonRoutingLoop, dev.Name, plugin.FormatRoute(r.Route), "the tunnel routes into itself",
				"The IP-in-IP packet to %s would leave %s by %s again (%s): the tunnel's remote must be reached over the underlay", remote, a.node.Name, r.Device, plugin.FormatRoute(r.Route))
			continue
		}
		under := stack.InterfaceByName(r.Device)
		if under == nil || !under.Up {
			fail(model.ReasonInterfaceDown, r.Device, plugin.FormatRoute(r.Route), "underlay "+r.Device+" is down",
				"The IP-in-IP packet to %s leaves by %s, which is down or missing on %s", remote, r.Device, a.node.Name)
			continue
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
		for _, hook := range []string{plugin.HookOutput, plugin.HookPostrouting} {
			if outer, ok = a.tunnelHook(res, stack, t, hook, outer, "", under.Name); !ok {
				break
			}
		}
		if !ok {
			res.Next = slices.DeleteFunc(res.Next, func(x *plugin.Transmission) bool { return x == t })
			continue
		}
		t.Link.Type = model.LinkIPIP
		t.Link.ToInterface = DefaultIPIPDevice
		if peer := ipipDevice(a.plugin.env.NodeStack(t.To.Name)); peer != nil {
			t.Link.ToInterface = peer.Name
		}
		a.plugin.mu.Lock()
		a.plugin.outers[t] = outer
		a.plugin.mu.Unlock()
		addStep(res, id, t.Packet, "ipip", "encapsulate", fmt.Sprintf("%s: %s -> %s by %s", dev.Name, outer.Src, outer.Dst, under.Name))
	}
}

// decapsulate checks the outer header of an IP-in-IP transmission at the receiving node:
// the underlay holds its address, the rules let IP protocol 4 in, and an ipip device takes
// it. It reports false when the branch ended here.
func (a *nodeAction) decapsulate(res *plugin.HopResult, t *plugin.Transmission) bool {
	stack := a.stack()
	if stack == nil {
		return true
	}
	id := a.base.NetNode.ID
	a.plugin.mu.Lock()
	outer, ok := a.plugin.outers[t]
	a.plugin.mu.Unlock()
	if !ok {
		outer = model.Packet{Dst: t.NextHop, Protocol: ipipProtocol}
		if from := a.plugin.env.Cluster.Node(t.From.Name); from != nil {
			outer.Src, _ = cluster.NodeInternalIP(from)
		}
	}
	end := func(reason model.Reason, iface, why, format string, args ...any) bool {
		res.Suspicions = append(res.Suspicions, model.Suspicion{Level: model.Critical, Reason: reason, Node: a.node.Name, Interface: iface, Message: fmt.Sprintf(format, args...)})
		res.Ends = append(res.Ends, plugin.End{Kind: plugin.Dropped, NodeID: id, Packet: t.Packet, Why: why})
		return false
	}
	under := stack.InterfaceWithAddr(outer.Dst)
	switch {
	case under == nil:
		return end(model.ReasonRouteWrongNode, "", "no interface has "+outer.Dst.String(),
			"The IP-in-IP packet is addressed to %s, which no interface of %s holds", outer.Dst, a.node.Name)
	case !under.Up:
		return end(model.ReasonInterfaceDown, under.Name, "underlay "+under.Name+" is down",
			"Underlay interface %s of %s is down: no tunnel traffic arrives", under.Name, a.node.Name)
	}
	for _, hook := range []string{plugin.HookPrerouting, plugin.HookInput} {
		if outer, ok = a.tunnelHook(res, stack, t, hook, outer, under.Name, ""); !ok {
			return false
		}
	}
	tun := ipipDevice(stack)
	switch {
	case tun == nil:
		return end(model.ReasonInterfaceMissing, DefaultIPIPDevice, "no ipip device",
			"%s has no IP-in-IP device, so the kernel does not take the tunnel packet from %s (is the ipip module loaded?)", a.node.Name, outer.Src)
	case !tun.Up:
		return end(model.ReasonInterfaceDown, tun.Name, "ipip device "+tun.Name+" is down",
			"The IP-in-IP device %s of %s is down, so tunnel packets to it are dropped: bring it up (ip link set %s up)", tun.Name, a.node.Name, tun.Name)
	}
	t.Link.ToInterface = tun.Name
	addStep(res, id, t.Packet, "ipip", "decapsulate", fmt.Sprintf("%s from %s", tun.Name, outer.Src))
	return true
}

// tunnelHook runs a tunnel's outer packet through one hook of the node's rules. A DROP of
// the tunnel (felix drops IP-in-IP from hosts it does not know) ends t's branch here.
func (a *nodeAction) tunnelHook(res *plugin.HopResult, stack *netstack.Netstack, t *plugin.Transmission, hook string, outer model.Packet, in, out string) (model.Packet, bool) {
	id := a.base.NetNode.ID
	filter, err := a.plugin.filter(stack)
	if err != nil {
		res.Suspicions = append(res.Suspicions, model.Suspicion{Level: model.Info, Reason: model.ReasonRuleNotUnderstood, Node: a.node.Name,
			Message: fmt.Sprintf("The netfilter rules of %s could not be read (%v), so they are not evaluated for the tunnel packet", a.node.Name, err)})
	}
	if filter == nil {
		return outer, true
	}
	// The tunnel is a flow of its own: its first packet, NEW in the node's conntrack.
	pkt := nf.FromModel(outer)
	pkt.In, pkt.Out = in, out
	outs := filter.Hook(hook, pkt)
	if len(outs) == 0 {
		return outer, true
	}
	o := outs[0]
	for _, r := range o.NotUnderstood {
		res.Suspicions = append(res.Suspicions, model.Suspicion{Level: model.Info, Reason: model.ReasonRuleNotUnderstood, Node: a.node.Name, Rule: r,
			Message: fmt.Sprintf("A rule of %s in %s uses a match or target the engine does not understand; it was not applied to the tunnel packet", a.node.Name, hook)})
	}
	where := strings.Join(o.Trace, " -> ")
	if where == "" {
		where = o.Rule
	}
	endWith := func(kind plugin.EndKind, s model.Suspicion, why string) (model.Packet, bool) {
		s.Node = a.node.Name
		res.Suspicions = append(res.Suspicions, s)
		res.Ends = append(res.Ends, plugin.End{Kind: kind, NodeID: id, Packet: t.Packet, Why: why})
		addStep(res, id, outer, "netfilter", hook+" "+string(o.Verdict), o.Rule)
		return outer, false
	}
	switch o.Verdict {
	case plugin.NFAccept:
		return o.Packet, true
	case plugin.NFDrop:
		return endWith(plugin.Dropped, model.Suspicion{Level: model.Critical, Reason: o.DropReason(), Interface: in + out, Rule: o.Rule,
			Message: fmt.Sprintf("An %s rule of %s drops the IP-in-IP tunnel packet from %s to %s in %s: %s", o.RulesetName(), a.node.Name, outer.Src, outer.Dst, hook, where)},
			o.RulesetName()+" "+hook+" drops the tunnel packet")
	case plugin.NFReject:
		return endWith(plugin.Dropped, model.Suspicion{Level: model.Critical, Reason: o.RejectReason(), Interface: in + out, Rule: o.Rule,
			Message: fmt.Sprintf("An %s rule of %s rejects the IP-in-IP tunnel packet from %s to %s in %s: %s", o.RulesetName(), a.node.Name, outer.Src, outer.Dst, hook, where)},
			o.RulesetName()+" "+hook+" rejects the tunnel packet")
	}
	return endWith(plugin.Undecided, model.Suspicion{Level: model.Info, Reason: model.ReasonRuleNotUnderstood, Rule: o.Rule,
		Message: fmt.Sprintf("Whether %s lets the IP-in-IP tunnel packet through %s depends on a rule the engine does not understand", a.node.Name, hook)},
		"a rule of "+a.node.Name+" is not understood")
}
