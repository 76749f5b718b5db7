package hop

import (
	"fmt"

	"github.com/netdiag/netdiag/internal/model"
)

// compareIntent asks the plugin where it meant the packet to go and reports a divergence.
func (p *Pipeline) compareIntent(h *Hop, next *Transmission) {
	in, err := p.intent(h)
	if err != nil {
		h.Suspectf(model.Info, model.ReasonPluginUnknown, "", "", "The plugin could not say where it sends %s from %s: %v", h.Packet, p.NetNode.Name, err)
		return
	}
	if in == nil || in.Next == nil || in.Next.ID == next.To.ID {
		return
	}
	if ifc := h.Interface(in.Device); ifc != nil && !ifc.Up {
		h.Suspectf(model.Critical, model.ReasonInterfaceDown, ifc.Name, "",
			"Interface %s of %s is down, so the kernel no longer routes by it and the packet goes elsewhere: bring it up (ip link set %s up)", ifc.Name, p.NetNode.Name, ifc.Name)
	}
	h.Suspectf(model.Warning, model.ReasonPathDiverges, next.Link.FromInterface, "",
		"The data plane sends %s from %s to %s by %s, but %s: the packet takes another way than Kubernetes intends",
		h.Packet, p.NetNode.Name, next.To.ID, next.Link.FromInterface, intentText(in))
}

func intentText(in *Intent) string {
	s := "the plugin intends " + in.Next.ID
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
func (p *Pipeline) intent(h *Hop) (*Intent, error) {
	ep, ok := h.Env.Cluster.IPCache().Lookup(h.Packet.Dst)
	if !ok {
		return p.Intents.ToExternal(h)
	}
	switch ep.Type {
	case model.EndpointPod:
		pod := h.Env.Cluster.Pod(ep.Namespace, ep.Name)
		if pod == nil {
			return nil, nil
		}
		return p.Intents.ToPod(h, pod)
	case model.EndpointNode:
		node := h.Env.Cluster.Node(ep.Name)
		if node == nil {
			return nil, nil
		}
		return p.Intents.ToHost(h, node)
	case model.EndpointService:
		svc := h.Env.Cluster.Service(ep.Namespace, ep.Name)
		if svc == nil {
			return nil, nil
		}
		return p.Intents.ToService(h, svc)
	}
	return p.Intents.ToExternal(h)
}

// followIntent moves the packet on where the plugin intends when the NetNode's state was
// not collected: the rest of the path is still checked, but this hop lowers confidence.
func (p *Pipeline) followIntent(h *Hop) error {
	h.Suspectf(model.Info, model.ReasonSnapshotMissing, "", "", "The network state of %s was not collected, so its part of the path is assumed, not checked", p.NetNode.Name)
	in, err := p.intent(h)
	if err != nil {
		return fmt.Errorf("intent of %s for %s: %w", p.NetNode.ID, h.Packet, err)
	}
	if in == nil || in.Next == nil {
		h.end(Undecided, p.NetNode.Name+" not collected")
		return nil
	}
	if in.Next.ID == p.NetNode.ID {
		if err := p.Intents.Serve(h); err != nil {
			return fmt.Errorf("serve at %s: %w", p.NetNode.ID, err)
		}
		h.end(Undecided, p.NetNode.Name+" not collected")
		return nil
	}
	to := in.Next
	switch to.Type {
	case model.NetNodeNode, model.NetNodePod, model.NetNodeExternal:
	default:
		h.end(Undecided, p.NetNode.Name+" not collected")
		return nil
	}
	lt := model.LinkHost
	switch {
	case to.Type == model.NetNodePod || p.Pod != nil:
		lt = model.LinkVeth
	case to.Type == model.NetNodeExternal:
		lt = model.LinkExternal
	}
	h.Step("intent", "assume", intentText(in))
	p.queue(h, &Transmission{
		Transmission: model.Transmission{From: p.NetNode, To: to, Packet: h.Packet, Link: model.Link{Type: lt, FromInterface: in.Device, Packet: h.Packet}},
		NextHop:      in.Gateway,
	})
	return nil
}
