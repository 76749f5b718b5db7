package calico

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin"
)

// Pod is calico's SimplePluginNode for a pod: everything goes to 169.254.1.1 on eth0,
// which is the host end of the veth.
type Pod struct {
	plugin.VethPod
}

var _ plugin.SimplePluginNode = (*Pod)(nil)

func (p *Pod) toNode() *plugin.Intent {
	return &plugin.Intent{Next: model.NodeID(p.Pod.Spec.NodeName), Device: "eth0", Gateway: Gateway,
		Why: "calico routes everything a pod sends to " + Gateway.String() + ", the host end of its veth"}
}

// ToPod sends to the node, or delivers locally to itself.
func (p *Pod) ToPod(h *plugin.Hop, pod *corev1.Pod) (*plugin.Intent, error) {
	if pod.Namespace == p.Pod.Namespace && pod.Name == p.Pod.Name {
		return &plugin.Intent{Next: h.NetNode.ID}, nil
	}
	return p.toNode(), nil
}

func (p *Pod) ToHost(*plugin.Hop, *corev1.Node) (*plugin.Intent, error)       { return p.toNode(), nil }
func (p *Pod) ToService(*plugin.Hop, *corev1.Service) (*plugin.Intent, error) { return p.toNode(), nil }
func (p *Pod) ToExternal(*plugin.Hop) (*plugin.Intent, error)                 { return p.toNode(), nil }

// podAction is a calico pod: the shared hop, then the one thing the hop does not know about
// a calico veth: the pod reaches its gateway only if its neighbour entry for 169.254.1.1
// holds the host end's MAC, or the host end answers ARP for it by proxy.
type podAction struct {
	base   *plugin.BasePluginNode
	plugin *Plugin
	pod    *corev1.Pod
}

var _ plugin.NetNodeAction = (*podAction)(nil)

func (a *podAction) Send(dst model.Endpoint, pkt model.Packet) (*plugin.HopResult, error) {
	res, err := a.base.Send(dst, pkt)
	if err != nil {
		return res, err
	}
	a.checkGateway(res)
	scrubMarks(res, a.base.NetNode.ID)
	return res, nil
}

func (a *podAction) Receive(t *plugin.Transmission) (*plugin.HopResult, error) {
	res, err := a.base.Receive(t)
	if err != nil {
		return res, err
	}
	a.checkGateway(res)
	scrubMarks(res, a.base.NetNode.ID)
	return res, nil
}

// scrubMarks clears the fwmark of the packets that leave the NetNode id: the kernel scrubs
// it when a packet crosses into another namespace (veth) or onto the wire, and felix's
// accept mark (0x10000) must not carry its meaning to the next node's rules.
func scrubMarks(res *plugin.HopResult, id string) {
	for _, t := range res.Next {
		if t.From != nil && t.From.ID == id {
			t.Packet.Mark = 0
			t.Link.Packet.Mark = 0
		}
	}
}

// usableNeighbour reports whether the kernel sends with entry n without asking first.
func usableNeighbour(n *netstack.Neighbour) bool {
	if n == nil || n.HardwareAddr == "" {
		return false
	}
	switch n.State {
	case "FAILED", "INCOMPLETE", "NONE":
		return false
	}
	return true
}

// staticNeighbour reports whether n never expires.
func staticNeighbour(n *netstack.Neighbour) bool {
	return n.State == "PERMANENT" || n.State == "NOARP"
}

// checkGateway checks, for each packet the pod sends to its node, that the frame reaches
// the host end of the veth: the pod's neighbour entry for the next hop, or proxy ARP.
func (a *podAction) checkGateway(res *plugin.HopResult) {
	stack := a.plugin.env.PodStack(a.pod.Namespace, a.pod.Name)
	host := a.plugin.env.NodeStack(a.pod.Spec.NodeName)
	if stack == nil || host == nil {
		return
	}
	for _, t := range slices.Clone(res.Next) {
		if t.From == nil || t.From.ID != a.base.NetNode.ID || t.Link.Type != model.LinkVeth || t.To.Type != model.NetNodeNode {
			continue
		}
		hostIf := host.InterfaceByName(t.Link.ToInterface)
		if hostIf == nil || !t.NextHop.IsValid() {
			continue
		}
		if host.InterfaceWithAddr(t.NextHop) != nil {
			// An address the host really holds answers ARP by itself.
			continue
		}
		a.checkNextHop(res, t, stack, host, hostIf)
	}
}

func (a *podAction) checkNextHop(res *plugin.HopResult, t *plugin.Transmission, stack, host *netstack.Netstack, hostIf *netstack.Interface) {
	id := a.base.NetNode.ID
	nh, dev := t.NextHop, t.Link.FromInterface
	podName := a.pod.Namespace + "/" + a.pod.Name
	node := a.pod.Spec.NodeName
	proxy, known := proxyARP(host, hostIf.Name)
	var n *netstack.Neighbour
	for i := range stack.Neighbours {
		if stack.Neighbours[i].Device == dev && stack.Neighbours[i].IP == nh {
			n = &stack.Neighbours[i]
		}
	}
	sysctl := "net.ipv4.conf." + hostIf.Name + ".proxy_arp"
	if usableNeighbour(n) {
		if hostIf.HardwareAddr != "" && !sameMAC(n.HardwareAddr, hostIf.HardwareAddr) {
			dropTransmission(res, t, model.Suspicion{Level: model.Critical, Reason: model.ReasonNeighbourMissing, Node: node, Pod: podName, Interface: dev,
				Message: fmt.Sprintf("Pod %s's neighbour entry for its gateway %s holds %s, but %s, the host end of its veth, has %s: the host ignores frames to another MAC, so everything the pod sends is lost (ip neigh replace %s lladdr %s dev %s in the pod)",
					podName, nh, n.HardwareAddr, hostIf.Name, hostIf.HardwareAddr, nh, hostIf.HardwareAddr, dev)},
				"the pod's entry for "+nh.String()+" holds a wrong MAC")
			return
		}
		addStep(res, id, t.Packet, "arp", "neighbour", fmt.Sprintf("%s lladdr %s %s on %s", nh, n.HardwareAddr, n.State, dev))
		switch {
		case !known || proxy:
		case staticNeighbour(n):
			res.Suspicions = append(res.Suspicions, model.Suspicion{Level: model.Info, Reason: model.ReasonProxyARPDisabled, Node: node, Interface: hostIf.Name, Rule: sysctl + " = 0",
				Message: fmt.Sprintf("Proxy ARP is off on %s, the host end of pod %s's veth; the pod still reaches its gateway %s through its static neighbour entry, but calico expects %s = 1",
					hostIf.Name, podName, nh, sysctl)})
		default:
			res.Suspicions = append(res.Suspicions, model.Suspicion{Level: model.Warning, Reason: model.ReasonProxyARPDisabled, Node: node, Interface: hostIf.Name, Rule: sysctl + " = 0",
				Message: fmt.Sprintf("Proxy ARP is off on %s, the host end of pod %s's veth: the pod's %s entry for its gateway %s works until it expires, and then nothing answers the pod's ARP and its traffic stops; set %s = 1 (felix sets it: is calico-node running on %s?)",
					hostIf.Name, podName, n.State, nh, sysctl, node)})
		}
		return
	}
	switch {
	case !known:
		res.Suspicions = append(res.Suspicions, model.Suspicion{Level: model.Info, Reason: model.ReasonSnapshotMissing, Node: node, Interface: hostIf.Name,
			Message: fmt.Sprintf("Pod %s has no neighbour entry for its gateway %s and the proxy_arp setting of %s was not collected, so whether its ARP is answered is not checked", podName, nh, hostIf.Name)})
	case proxy:
		addStep(res, id, t.Packet, "arp", "proxy", fmt.Sprintf("%s answered by proxy ARP on %s with %s", nh, hostIf.Name, hostIf.HardwareAddr))
	default:
		state := "no neighbour entry"
		if n != nil {
			state = "a " + n.State + " neighbour entry"
		}
		dropTransmission(res, t, model.Suspicion{Level: model.Critical, Reason: model.ReasonProxyARPDisabled, Node: node, Interface: hostIf.Name, Rule: sysctl + " = 0",
			Message: fmt.Sprintf("Pod %s has %s for its gateway %s and proxy ARP is off on %s, the host end of its veth: nothing answers the pod's ARP, so everything it sends is dropped; set %s = 1 (felix sets it: is calico-node running on %s?)",
				podName, state, nh, hostIf.Name, sysctl, node)},
			"nothing answers ARP for "+nh.String())
	}
}

// proxyARP reports whether the kernel answers ARP by proxy on dev (the larger of conf/all and
// conf/<dev>), and whether the snapshot says.
func proxyARP(stack *netstack.Netstack, dev string) (on, known bool) {
	all, okAll := stack.Sysctls["ipv4/conf/all/proxy_arp"]
	own, okOwn := stack.Sysctls["ipv4/conf/"+dev+"/proxy_arp"]
	if !okAll && !okOwn {
		return false, false
	}
	return all == "1" || own == "1", true
}

// dropTransmission ends the branch of t at its sender with s.
func dropTransmission(res *plugin.HopResult, t *plugin.Transmission, s model.Suspicion, why string) {
	res.Next = slices.DeleteFunc(res.Next, func(x *plugin.Transmission) bool { return x == t })
	res.Suspicions = append(res.Suspicions, s)
	res.Ends = append(res.Ends, plugin.End{Kind: plugin.Dropped, NodeID: t.From.ID, Packet: t.Packet, Why: why})
}

func addStep(res *plugin.HopResult, id string, pkt model.Packet, component, action, detail string) {
	res.Steps = append(res.Steps, model.Step{NodeID: id, Component: component, Action: action, Detail: detail, Packet: pkt})
}
