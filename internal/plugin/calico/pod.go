package calico

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin"
)

// Pod is calico's SimplePluginNode for a pod: everything goes to 169.254.1.1 on eth0,
// which is the host end of the veth.
type Pod struct {
	plugin.VethPod
	plugin *Plugin
}

var _ plugin.SimplePluginNode = (*Pod)(nil)

func (p *Pod) toNode() *plugin.Intent {
	return &plugin.Intent{Next: plugin.NodeNetNode(p.Pod.Spec.NodeName), Device: "eth0", Gateway: Gateway,
		Why: "calico routes everything a pod sends to " + Gateway.String() + ", the host end of its veth"}
}

// ToPod sends to the node, or delivers locally to itself.
func (p *Pod) ToPod(h *plugin.Hop, pod *corev1.Pod) (*plugin.Intent, error) {
	if pod.Namespace == p.Pod.Namespace && pod.Name == p.Pod.Name {
		return &plugin.Intent{Next: h.NetNode}, nil
	}
	return p.toNode(), nil
}

func (p *Pod) ToHost(*plugin.Hop, *corev1.Node) (*plugin.Intent, error)       { return p.toNode(), nil }
func (p *Pod) ToService(*plugin.Hop, *corev1.Service) (*plugin.Intent, error) { return p.toNode(), nil }
func (p *Pod) ToExternal(*plugin.Hop) (*plugin.Intent, error)                 { return p.toNode(), nil }

// scrubMark clears the fwmark of a packet that leaves the NetNode: the kernel scrubs it
// when a packet crosses into another namespace (veth) or onto the wire, and felix's accept
// mark (0x10000) must not carry its meaning to the next node's rules.
func scrubMark(_ *plugin.Hop, t *plugin.Transmission) bool {
	t.Packet.Mark = 0
	t.Link.Packet.Mark = 0
	return true
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

// checkGateway checks, for a packet the pod sends to its node, that the frame reaches the
// host end of the veth: the pod's neighbour entry for the next hop, or proxy ARP. It reports
// false when nothing answers and the branch ended.
func (p *Pod) checkGateway(h *plugin.Hop, t *plugin.Transmission) bool {
	stack := p.plugin.env.PodStack(p.Pod.Namespace, p.Pod.Name)
	host := p.plugin.env.NodeStack(p.Pod.Spec.NodeName)
	if stack == nil || host == nil || t.Link.Type != model.LinkVeth || t.To.Type != model.NetNodeNode {
		return true
	}
	hostIf := host.InterfaceByName(t.Link.ToInterface)
	if hostIf == nil || !t.NextHop.IsValid() {
		return true
	}
	if host.InterfaceWithAddr(t.NextHop) != nil {
		// An address the host really holds answers ARP by itself.
		return true
	}
	return p.checkNextHop(h, t, stack, hostIf)
}

func (p *Pod) checkNextHop(h *plugin.Hop, t *plugin.Transmission, stack *netstack.Netstack, hostIf *netstack.Interface) bool {
	nh, dev := t.NextHop, t.Link.FromInterface
	podName := p.Pod.Namespace + "/" + p.Pod.Name
	node := p.Pod.Spec.NodeName
	proxy, known := proxyARP(p.plugin.env.NodeStack(node), hostIf.Name)
	var n *netstack.Neighbour
	for i := range stack.Neighbours {
		if stack.Neighbours[i].Device == dev && stack.Neighbours[i].IP == nh {
			n = &stack.Neighbours[i]
		}
	}
	sysctl := "net.ipv4.conf." + hostIf.Name + ".proxy_arp"
	if usableNeighbour(n) {
		if hostIf.HardwareAddr != "" && !sameMAC(n.HardwareAddr, hostIf.HardwareAddr) {
			h.Record(model.Suspicion{Level: model.Critical, Reason: model.ReasonNeighbourMissing, Node: node, Pod: podName, Interface: dev,
				Message: fmt.Sprintf("Pod %s's neighbour entry for its gateway %s holds %s, but %s, the host end of its veth, has %s: the host ignores frames to another MAC, so everything the pod sends is lost (ip neigh replace %s lladdr %s dev %s in the pod)",
					podName, nh, n.HardwareAddr, hostIf.Name, hostIf.HardwareAddr, nh, hostIf.HardwareAddr, dev)})
			h.Stop(plugin.Dropped, "the pod's entry for "+nh.String()+" holds a wrong MAC")
			return false
		}
		h.Step("arp", "neighbour", fmt.Sprintf("%s lladdr %s %s on %s", nh, n.HardwareAddr, n.State, dev))
		switch {
		case !known || proxy:
		case staticNeighbour(n):
			h.Record(model.Suspicion{Level: model.Info, Reason: model.ReasonProxyARPDisabled, Node: node, Interface: hostIf.Name, Rule: sysctl + " = 0",
				Message: fmt.Sprintf("Proxy ARP is off on %s, the host end of pod %s's veth; the pod still reaches its gateway %s through its static neighbour entry, but calico expects %s = 1",
					hostIf.Name, podName, nh, sysctl)})
		default:
			h.Record(model.Suspicion{Level: model.Warning, Reason: model.ReasonProxyARPDisabled, Node: node, Interface: hostIf.Name, Rule: sysctl + " = 0",
				Message: fmt.Sprintf("Proxy ARP is off on %s, the host end of pod %s's veth: the pod's %s entry for its gateway %s works until it expires, and then nothing answers the pod's ARP and its traffic stops; set %s = 1 (felix sets it: is calico-node running on %s?)",
					hostIf.Name, podName, n.State, nh, sysctl, node)})
		}
		return true
	}
	switch {
	case !known:
		h.Record(model.Suspicion{Level: model.Info, Reason: model.ReasonSnapshotMissing, Node: node, Interface: hostIf.Name,
			Message: fmt.Sprintf("Pod %s has no neighbour entry for its gateway %s and the proxy_arp setting of %s was not collected, so whether its ARP is answered is not checked", podName, nh, hostIf.Name)})
	case proxy:
		h.Step("arp", "proxy", fmt.Sprintf("%s answered by proxy ARP on %s with %s", nh, hostIf.Name, hostIf.HardwareAddr))
	default:
		state := "no neighbour entry"
		if n != nil {
			state = "a " + n.State + " neighbour entry"
		}
		h.Record(model.Suspicion{Level: model.Critical, Reason: model.ReasonProxyARPDisabled, Node: node, Interface: hostIf.Name, Rule: sysctl + " = 0",
			Message: fmt.Sprintf("Pod %s has %s for its gateway %s and proxy ARP is off on %s, the host end of its veth: nothing answers the pod's ARP, so everything it sends is dropped; set %s = 1 (felix sets it: is calico-node running on %s?)",
				podName, state, nh, hostIf.Name, sysctl, node)})
		h.Stop(plugin.Dropped, "nothing answers ARP for "+nh.String())
		return false
	}
	return true
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
