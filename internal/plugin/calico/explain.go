package calico

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/nf"
	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/plugin/hop"
)

// What calico explains on a node's hop, registered as the hop's explainers: a packet for a
// local pod that falls into the block's blackhole (the cali veth down or gone, felix's route
// missing), and a DROP in felix's cali-* chains, named with its chain and, for a policy
// chain, the NetworkPolicies that deny.

// explainBlackhole names the cause when a packet for a pod of this node is refused by the
// blackhole of its block: calico's /32 route to the pod's veth should have matched first.
func (n *Node) explainBlackhole(h *plugin.Hop, _ netstack.RouteQuery, _ netstack.RouteResult) {
	pod := n.localPod(h.Packet.Dst)
	if pod == nil || h.Stack == nil {
		return
	}
	r := h.Stack.LookupRoute(netstack.RouteQuery{Dst: h.Packet.Dst})
	if r.Reject != netstack.RejectBlackhole || r.Route == nil || r.Route.Dst.Bits() == 32 {
		return
	}
	podName := pod.Namespace + "/" + pod.Name
	veth := n.podVeth(h.Stack, pod)
	hole := hop.FormatRoute(r.Route)
	var s model.Suspicion
	switch {
	case veth == nil:
		name := VethName(n.plugin.cfg.InterfacePrefix, pod.Namespace, pod.Name)
		s = model.Suspicion{Level: model.Critical, Reason: model.ReasonInterfaceMissing, Interface: name, Rule: hole,
			Message: fmt.Sprintf("The veth of pod %s (%s on %s) does not exist, so the pod's route is gone and its packets fall into calico's blackhole for the block (%s): the pod's network was torn down or never set up (check the CNI plugin's log, or recreate the pod)",
				podName, name, n.node.Name, hole)}
	case !veth.Up:
		s = model.Suspicion{Level: model.Critical, Reason: model.ReasonInterfaceDown, Interface: veth.Name, Rule: hole,
			Message: fmt.Sprintf("%s, the host end of pod %s's veth, is down, so the kernel dropped the pod's route and its packets fall into calico's blackhole for the block (%s): bring it up (ip link set %s up)",
				veth.Name, podName, hole, veth.Name)}
	default:
		s = model.Suspicion{Level: model.Critical, Reason: model.ReasonRouteMissing, Interface: veth.Name, Rule: hole,
			Message: fmt.Sprintf("%s has no route for pod %s (%s dev %s scope link), so its packets fall into calico's blackhole for the block (%s): felix did not program the workload route (is calico-node running on %s?)",
				n.node.Name, podName, h.Packet.Dst, veth.Name, hole, n.node.Name)}
	}
	s.Node = n.node.Name
	h.Record(s)
	h.Step("calico", "blackhole", "block "+r.Route.Dst.String()+" holds "+podName+", whose own route did not match")
}

// podVeth returns the host end of pod's veth: by the peer index of the pod's eth0 when the
// pod was collected, else by calico's name for it.
func (n *Node) podVeth(stack *netstack.Netstack, pod *corev1.Pod) *netstack.Interface {
	if ps := n.plugin.env.PodStack(pod.Namespace, pod.Name); ps != nil {
		for _, ifc := range ps.Interfaces {
			if ifc.Veth != nil && ifc.Veth.PeerIndex > 0 {
				if h := stack.InterfaceByIndex(ifc.Veth.PeerIndex); h != nil {
					return h
				}
			}
		}
	}
	return stack.InterfaceByName(VethName(n.plugin.cfg.InterfacePrefix, pod.Namespace, pod.Name))
}

var chainOf = regexp.MustCompile(`-A (cali-\S+)`)

// explainDrop names a drop by one of felix's iptables chains: the chain and what it is, and
// for a policy chain the NetworkPolicies that deny in its direction. Other rules keep the
// shared message ("").
func (n *Node) explainDrop(h *plugin.Hop, _ nf.Hook, o *nf.Outcome) string {
	rule, place := o.Deciding()
	table, chain, _ := strings.Cut(place, "/")
	if m := chainOf.FindStringSubmatch(rule); m != nil {
		chain = m[1]
	}
	_, chain, ok := felixChain(chain)
	if !ok {
		return ""
	}
	what, dir := n.describeChain(chain)
	if !n.explainPolicyDrop(h, o, table, chain, dir) && dir != "" {
		n.policyDenials(h, dir)
	}
	if hop.RulesetName(o) != nf.IPTables {
		return ""
	}
	return fmt.Sprintf("Calico's chain %s (%s) on %s drops the packet: %s", chain, what, n.node.Name, rule)
}

// describeChain says what one of felix's chains is, and the policy direction it enforces
// ("ingress", "egress" or empty).
func (n *Node) describeChain(chain string) (what, dir string) {
	pod := func(iface string) string {
		if p := n.podByVeth(iface); p != nil {
			return "pod " + p.Namespace + "/" + p.Name
		}
		return "the workload on " + iface
	}
	switch {
	case strings.HasPrefix(chain, "cali-tw-"):
		return "the policy to " + pod(strings.TrimPrefix(chain, "cali-tw-")), "ingress"
	case strings.HasPrefix(chain, "cali-fw-"):
		return "the policy from " + pod(strings.TrimPrefix(chain, "cali-fw-")), "egress"
	case strings.HasPrefix(chain, "cali-pi-"):
		return "the ingress rules of a policy", "ingress"
	case strings.HasPrefix(chain, "cali-po-"):
		return "the egress rules of a policy", "egress"
	case strings.HasPrefix(chain, "cali-pri-"), strings.HasPrefix(chain, "cali-pro-"):
		return "a profile: the rules of a namespace or service account", ""
	case chain == "cali-to-wl-dispatch", chain == "cali-from-wl-dispatch":
		return "the dispatch to workload interfaces: felix does not know the pod's interface", ""
	case hostEndpointChain.MatchString(chain), strings.Contains(chain, "hep"), strings.Contains(chain, "host-endpoint"):
		return "a host endpoint policy", ""
	}
	return "felix's rules", ""
}

func (n *Node) podByVeth(iface string) *corev1.Pod {
	s := n.plugin.env.Cluster
	for _, p := range s.PodsOn(n.node.Name) {
		if !p.Spec.HostNetwork && VethName(n.plugin.cfg.InterfacePrefix, p.Namespace, p.Name) == iface {
			return p
		}
	}
	return nil
}

// policyDenials evaluates the NetworkPolicies for the dropped packet in one direction, so
// that the verdict names the policies felix's chain enforces.
func (n *Node) policyDenials(h *plugin.Hop, dir string) {
	plugin.RecordPolicyDenials(h, "calico", dir, "a Calico NetworkPolicy or GlobalNetworkPolicy (not in the snapshot) or from stale rules")
}
