package calico

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/policy"
)

// ipipProtocol is IP-in-IP as iptables-save names IP protocol 4 (ipencap in /etc/protocols).
const ipipProtocol model.Protocol = "IPENCAP"

// nodeAction is a calico node: the shared hop, with what only calico explains around it.
// The hop has no IP-in-IP, so tunl0 is handled here: the outer header leaves by the
// underlay and the peer takes it in by tunl0. A packet for a local pod that falls into the
// block's blackhole is explained (the cali veth down or gone, felix's route missing), and a
// DROP in felix's cali-* chains is named with its chain and, for a policy chain, the
// NetworkPolicies that deny.
type nodeAction struct {
	base   *plugin.BasePluginNode
	plugin *Plugin
	node   *corev1.Node
}

var _ plugin.NetNodeAction = (*nodeAction)(nil)

func (a *nodeAction) stack() *netstack.Netstack { return a.plugin.env.NodeStack(a.node.Name) }

func (a *nodeAction) Send(dst model.Endpoint, pkt model.Packet) (*plugin.HopResult, error) {
	res, err := a.base.Send(dst, pkt)
	if err != nil {
		return res, err
	}
	a.after(res)
	return res, nil
}

func (a *nodeAction) Receive(t *plugin.Transmission) (*plugin.HopResult, error) {
	if t.Link.Type == model.LinkIPIP {
		res := &plugin.HopResult{}
		if !a.decapsulate(res, t) {
			return res, nil
		}
		more, err := a.base.Receive(t)
		if err != nil {
			return res, err
		}
		mergeResult(res, more)
		a.after(res)
		return res, nil
	}
	res, err := a.base.Receive(t)
	if err != nil {
		return res, err
	}
	a.after(res)
	return res, nil
}

func mergeResult(r, o *plugin.HopResult) {
	r.Next = append(r.Next, o.Next...)
	r.Ends = append(r.Ends, o.Ends...)
	r.Suspicions = append(r.Suspicions, o.Suspicions...)
	r.Steps = append(r.Steps, o.Steps...)
}

func (a *nodeAction) after(res *plugin.HopResult) {
	defer scrubMarks(res, a.base.NetNode.ID)
	stack := a.stack()
	if stack == nil {
		return
	}
	a.explainBlackholes(res, stack)
	a.explainCaliDrops(res)
	a.encapsulate(res, stack)
}

// explainBlackholes names the cause when a packet for a pod of this node ends in the
// blackhole of its block: calico's /32 route to the pod's veth should have matched first.
func (a *nodeAction) explainBlackholes(res *plugin.HopResult, stack *netstack.Netstack) {
	n := &Node{plugin: a.plugin, node: a.node}
	for _, e := range slices.Clone(res.Ends) {
		if e.Kind != plugin.Dropped || e.NodeID != a.base.NetNode.ID {
			continue
		}
		pod := n.localPod(e.Packet.Dst)
		if pod == nil {
			continue
		}
		r := stack.LookupRoute(netstack.RouteQuery{Dst: e.Packet.Dst})
		if r.Reject != netstack.RejectBlackhole || r.Route == nil || r.Route.Dst.Bits() == 32 {
			continue
		}
		podName := pod.Namespace + "/" + pod.Name
		veth := a.podVeth(stack, pod)
		hole := plugin.FormatRoute(r.Route)
		var s model.Suspicion
		switch {
		case veth == nil:
			name := VethName(a.plugin.cfg.InterfacePrefix, pod.Namespace, pod.Name)
			s = model.Suspicion{Level: model.Critical, Reason: model.ReasonInterfaceMissing, Interface: name, Rule: hole,
				Message: fmt.Sprintf("The veth of pod %s (%s on %s) does not exist, so the pod's route is gone and its packets fall into calico's blackhole for the block (%s): the pod's network was torn down or never set up (check the CNI plugin's log, or recreate the pod)",
					podName, name, a.node.Name, hole)}
		case !veth.Up:
			s = model.Suspicion{Level: model.Critical, Reason: model.ReasonInterfaceDown, Interface: veth.Name, Rule: hole,
				Message: fmt.Sprintf("%s, the host end of pod %s's veth, is down, so the kernel dropped the pod's route and its packets fall into calico's blackhole for the block (%s): bring it up (ip link set %s up)",
					veth.Name, podName, hole, veth.Name)}
		default:
			s = model.Suspicion{Level: model.Critical, Reason: model.ReasonRouteMissing, Interface: veth.Name, Rule: hole,
				Message: fmt.Sprintf("%s has no route for pod %s (%s dev %s scope link), so its packets fall into calico's blackhole for the block (%s): felix did not program the workload route (is calico-node running on %s?)",
					a.node.Name, podName, e.Packet.Dst, veth.Name, hole, a.node.Name)}
		}
		s.Node = a.node.Name
		res.Suspicions = append(res.Suspicions, s)
		addStep(res, a.base.NetNode.ID, e.Packet, "calico", "blackhole", "block "+r.Route.Dst.String()+" holds "+podName+", whose own route did not match")
	}
}

// podVeth returns the host end of pod's veth: by the peer index of the pod's eth0 when the
// pod was collected, else by calico's name for it.
func (a *nodeAction) podVeth(stack *netstack.Netstack, pod *corev1.Pod) *netstack.Interface {
	if ps := a.plugin.env.PodStack(pod.Namespace, pod.Name); ps != nil {
		for _, ifc := range ps.Interfaces {
			if ifc.Veth != nil && ifc.Veth.PeerIndex > 0 {
				if h := stack.InterfaceByIndex(ifc.Veth.PeerIndex); h != nil {
					return h
				}
			}
		}
	}
	return stack.InterfaceByName(VethName(a.plugin.cfg.InterfacePrefix, pod.Namespace, pod.Name))
}

var chainOf = regexp.MustCompile(`-A (cali-\S+)`)

// explainCaliDrops rewrites the drops by felix's chains so that they name the chain and what
// it is, and adds the NetworkPolicies that deny when the chain is a policy chain.
func (a *nodeAction) explainCaliDrops(res *plugin.HopResult) {
	var add []model.Suspicion
	for i := range res.Suspicions {
		s := &res.Suspicions[i]
		if s.Reason != model.ReasonIPTablesDrop && s.Reason != model.ReasonIPTablesReject {
			continue
		}
		m := chainOf.FindStringSubmatch(s.Rule)
		if m == nil {
			continue
		}
		chain := m[1]
		what, dir := a.describeChain(chain)
		s.Message = fmt.Sprintf("Calico's chain %s (%s) on %s drops the packet: %s", chain, what, a.node.Name, s.Rule)
		if dir == "" {
			continue
		}
		add = append(add, a.policyDenials(res, dir)...)
	}
	res.Suspicions = append(res.Suspicions, add...)
}

// describeChain says what one of felix's chains is, and the policy direction it enforces
// ("ingress", "egress" or empty).
func (a *nodeAction) describeChain(chain string) (what, dir string) {
	pod := func(iface string) string {
		if p := a.podByVeth(iface); p != nil {
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
	case strings.Contains(chain, "hep"), strings.Contains(chain, "host-endpoint"):
		return "a host endpoint policy", ""
	}
	return "felix's rules", ""
}

func (a *nodeAction) podByVeth(iface string) *corev1.Pod {
	s := a.plugin.env.Cluster
	for i := range s.Pods {
		p := &s.Pods[i]
		if p.Spec.NodeName == a.node.Name && !p.Spec.HostNetwork && VethName(a.plugin.cfg.InterfacePrefix, p.Namespace, p.Name) == iface {
			return p
		}
	}
	return nil
}

// policyDenials evaluates the NetworkPolicies for the dropped packets in one direction, so
// that the verdict names the policies felix's chain enforces.
func (a *nodeAction) policyDenials(res *plugin.HopResult, dir string) []model.Suspicion {
	env := a.plugin.env
	if env.Policy == nil {
		return nil
	}
	var out []model.Suspicion
	for _, e := range res.Ends {
		if e.Kind != plugin.Dropped || e.NodeID != a.base.NetNode.ID {
			continue
		}
		src, err := policy.PeerFor(env.Cluster, endpointOf(env, e.Packet.Src))
		if err != nil {
			continue
		}
		dst, err := policy.PeerFor(env.Cluster, endpointOf(env, e.Packet.Dst))
		if err != nil {
			continue
		}
		d := env.Policy.Evaluate(src, dst, e.Packet.Protocol, e.Packet.DstPort)
		if dir == "ingress" {
			d.Egress = policy.Verdict{Direction: policy.Egress, Allowed: true}
		} else {
			d.Ingress = policy.Verdict{Direction: policy.Ingress, Allowed: true}
		}
		sus := policy.Suspicions(d, src, dst, true)
		if len(sus) == 0 {
			addStep(res, a.base.NetNode.ID, e.Packet, "calico", "policy",
				"no Kubernetes NetworkPolicy denies this "+dir+": the drop comes from a Calico NetworkPolicy or GlobalNetworkPolicy (not in the snapshot) or from stale rules")
		}
		out = append(out, sus...)
	}
	return out
}

func endpointOf(env *plugin.Env, ip netip.Addr) model.Endpoint {
	if ep, ok := env.Cluster.IPCache().Lookup(ip); ok {
		ep.IP = ip
		return ep
	}
	return model.Endpoint{Type: model.EndpointExternal, IP: ip}
}
