package service

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack/netfilter"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// explain fills in what each branch means: the endpoint the translation picked, whether it
// is on this node, hairpin, and the steps of the path.
func explain(snap *cluster.Snapshot, a Arrival, res *Result) {
	nodeID := model.NodeID(a.Node)
	for i := range res.Branches {
		b := &res.Branches[i]
		if b.dnat {
			b.Endpoint = endpointOwner(snap, b.Packet.Dst)
			b.Local = b.Endpoint.Type == model.EndpointPod && b.Endpoint.Node == a.Node
			b.Hairpin = b.Packet.Dst == a.Packet.Src
		}
		what := "packet"
		if res.Service != nil {
			what = serviceName(res.Service)
			if res.Port != nil {
				what += fmt.Sprintf(" port %s (%s %d)", portLabel(res.Port), res.Port.Protocol, res.Port.Port)
			}
		}
		step := model.Step{NodeID: nodeID, Component: "kube-proxy " + string(res.Mode), Detail: b.Rule, Packet: b.Packet}
		switch b.Outcome {
		case Translated:
			step.Action = fmt.Sprintf("DNAT %s to %s (%.0f%% of new connections)", what, netip.AddrPortFrom(b.Packet.Dst, b.Packet.DstPort), b.Probability*100)
			step.Share = b.Probability
		case Untranslated:
			step.Action = "no service rule applies"
		case Rejected:
			step.Action = "REJECT " + what
		case Dropped:
			step.Action = "DROP " + what
		case Undecided:
			step.Action = "undecided: a rule is not understood"
		}
		b.Steps = append(b.Steps, step)
		if res.Service != nil && res.Port != nil && res.Port.TargetPort.Type == intstr.String && b.Outcome == Translated {
			b.Steps = append(b.Steps, model.Step{NodeID: nodeID, Component: "service", Action: "named targetPort",
				Detail: fmt.Sprintf("targetPort %q resolves to port %d on %s, as the EndpointSlice says", res.Port.TargetPort.StrVal, b.Packet.DstPort, b.Packet.Dst), Packet: b.Packet})
		}
		if timeout, ok := affinityTimeout(res.Service); ok && b.dnat {
			detail := fmt.Sprintf("a client that connected within the last %ds keeps the endpoint it had; a new client is balanced as shown", timeout)
			if b.Pinned {
				detail = fmt.Sprintf("client %s connected within the last %ds and is kept on this endpoint, whatever the balance", a.Packet.Src, timeout)
			}
			b.Steps = append(b.Steps, model.Step{NodeID: nodeID, Component: "service", Action: "ClientIP session affinity", Detail: detail, Packet: b.Packet})
		}
		if b.Hairpin {
			b.Steps = append(b.Steps, model.Step{NodeID: nodeID, Component: "service", Action: "hairpin",
				Detail: "the endpoint is the client itself; the packet must be masqueraded so that the reply comes back through the node", Packet: b.Packet})
		}
	}
}

// affinityTimeout is how long a ClientIP-affinity service keeps a client on its endpoint,
// in seconds; ok is false for a service without session affinity.
func affinityTimeout(svc *corev1.Service) (seconds int32, ok bool) {
	if svc == nil || svc.Spec.SessionAffinity != corev1.ServiceAffinityClientIP {
		return 0, false
	}
	if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
		return *c.ClientIP.TimeoutSeconds, true
	}
	return corev1.DefaultClientIPServiceAffinitySeconds, true
}

func portLabel(p *corev1.ServicePort) string {
	if p.Name != "" {
		return p.Name
	}
	return fmt.Sprint(p.Port)
}

// compare sets the endpoints the EndpointSlices ask for and reports where the node's real
// translation differs from them. rules are the node's netfilter rules (for the evidence of
// what kube-proxy wrote for the service), nil in ipvs mode.
func compare(snap *cluster.Snapshot, res *Result, a Arrival, rules *netfilter.Rules) {
	if res.Service == nil || res.Port == nil {
		return
	}
	svc, port := res.Service, res.Port
	all, portListed := sliceEndpoints(snap, svc, port)
	local := usesLocal(svc, res.Kind, a.Origin)
	eps, anyUsable := expected(all, a.Node, nodeZone(snap, a.Node), local)
	res.Endpoints = addrPorts(eps)
	what := fmt.Sprintf("%s port %s (%s %d)", serviceName(svc), portLabel(port), port.Protocol, port.Port)

	var translated, stopped []*Branch
	undecided := false
	for i := range res.Branches {
		b := &res.Branches[i]
		switch {
		case b.dnat:
			translated = append(translated, b)
		case b.Outcome == Rejected || b.Outcome == Dropped:
			stopped = append(stopped, b)
		case b.Outcome == Undecided:
			undecided = true
		}
	}

	if len(translated) == 0 {
		rule := ""
		var decided *Branch
		if len(stopped) > 0 {
			decided = stopped[0]
			rule = decided.Rule
		}
		// In ipvs mode the deciding "rule" is kube-proxy's own virtual server.
		kubeProxyRule := decided != nil && (res.Mode == ModeIPVS || kubeProxyNames(decided, svc, port))
		switch {
		case undecided && decided == nil:
			// A rule not understood decides; it is reported as such.
		case decided != nil && !kubeProxyRule:
			reason := stopReason(decided)
			suspect(&res.Suspicions, a, model.Critical, reason, rule,
				"A rule on node %s that is not kube-proxy's %s the packet to %s", a.Node, pastTense(decided.Outcome), what)
		case !anyUsable:
			suspect(&res.Suspicions, a, model.Critical, model.ReasonServiceNoEndpoints, rule, "%s has no endpoints: %s",
				what, noEndpointsWhy(snap, svc, port, all, portListed))
		case local && len(eps) == 0:
			policy := "externalTrafficPolicy"
			if res.Kind == ClusterIP {
				policy = "internalTrafficPolicy"
			}
			suspect(&res.Suspicions, a, model.Critical, model.ReasonServiceLocalNoEndpoints, rule,
				"%s has %s Local and no ready endpoint on node %s, so node %s drops the packet; its endpoints run on %s",
				what, policy, a.Node, a.Node, endpointNodes(all))
		case kubeProxyRule && decided.unknownPort:
			suspect(&res.Suspicions, a, model.Critical, model.ReasonServiceRulesMissing, rule,
				"kube-proxy on node %s has no rule for %s in its service-ips map, so it %s the packet as one to a cluster IP or port it does not serve, although the EndpointSlices list %s: kube-proxy has not synced",
				a.Node, what, pastTense(decided.Outcome), joinAddrPorts(res.Endpoints))
		case kubeProxyRule:
			suspect(&res.Suspicions, a, model.Critical, model.ReasonServiceRulesMissing, rule,
				"kube-proxy on node %s still treats %s as having no usable endpoints, but the EndpointSlices list %s: kube-proxy has not synced",
				a.Node, what, joinAddrPorts(res.Endpoints))
		case hasReason(res.Suspicions, model.ReasonServiceRulesMissing):
			// Already said where the rules fall short (ipvs: the address is not bound).
		case res.Mode == ModeNone:
			suspect(&res.Suspicions, a, model.Critical, model.ReasonServiceRulesMissing, "",
				"Node %s has no service rules at all, so nothing translates %s although the EndpointSlices list %s: kube-proxy is not running there (or has never synced)",
				a.Node, what, joinAddrPorts(res.Endpoints))
		default:
			suspect(&res.Suspicions, a, model.Critical, model.ReasonServiceRulesMissing, "",
				"Node %s has no %s rules for %s although the EndpointSlices list %s: kube-proxy is not running there or has not synced",
				a.Node, res.Mode, what, joinAddrPorts(res.Endpoints))
			if rules != nil {
				n := len(serviceRules(rules.IPTables, ServiceChains(svc, port), portName(svc, port)))
				if res.Mode == ModeNFTables {
					n = nftServiceRules(rules.NFTables, svc, port)
				}
				if n > 0 {
					res.Suspicions[len(res.Suspicions)-1].Message += fmt.Sprintf(" (%d rules name the service, none matched this packet)", n)
				}
			}
		}
		return
	}

	listed := map[netip.AddrPort]sliceEndpoint{}
	for _, e := range all {
		listed[e.Addr] = e
	}
	want := map[netip.AddrPort]bool{}
	for _, ap := range res.Endpoints {
		want[ap] = true
	}
	got := map[netip.AddrPort]bool{}
	for _, b := range translated {
		tgt := netip.AddrPortFrom(b.Packet.Dst, b.Packet.DstPort)
		got[tgt] = true
		share := fmt.Sprintf("%.0f%% of new connections", b.Probability*100)
		e, isListed := listed[tgt]
		switch {
		case !isListed:
			suspect(&b.Suspicions, a, model.Critical, model.ReasonServiceEndpointStale, b.Rule,
				"Node %s sends %s to %s for %s, but no EndpointSlice lists that endpoint any more (they list %s): kube-proxy has not synced",
				a.Node, share, tgt, what, orNone(joinAddrPorts(addrPorts(all))))
		case !want[tgt]:
			suspect(&b.Suspicions, a, model.Warning, model.ReasonServiceEndpointStale, b.Rule,
				"Node %s sends %s to %s for %s, which the EndpointSlices list as %s and kube-proxy should not use now",
				a.Node, share, tgt, what, conditions(e, a.Node, local))
		}
		if (b.Outcome == Dropped || b.Outcome == Rejected) && !kubeProxyNames(b, svc, port) {
			reason := stopReason(b)
			suspect(&b.Suspicions, a, model.Critical, reason, b.Rule,
				"A rule on node %s that is not kube-proxy's %s the packet to %s after its translation to %s",
				a.Node, pastTense(b.Outcome), what, tgt)
		}
		if b.Hairpin && !b.Masquerade && res.Mode == ModeIPTables {
			suspect(&b.Suspicions, a, model.Warning, model.ReasonServiceHairpinNoMasq, b.Rule,
				"The pod reaches itself through %s but the rules do not mark the packet for masquerade, so the reply bypasses the translation and the connection fails", what)
		}
	}
	if pinned := pinnedBranch(translated); pinned != nil {
		// The client's earlier connection chose its endpoint: the others are left out for
		// it on purpose, not for want of rules.
		suspect(&res.Suspicions, a, model.Info, model.ReasonServiceAffinityPinned, pinned.pinRule,
			"%s has ClientIP session affinity and client %s connected to it %s: kube-proxy on node %s keeps it on %s, so every connection of this client goes there, none to the other endpoints",
			what, a.Packet.Src, lastSeen(a, pinned, svc), a.Node, pinned.Endpoint)
		return
	}
	var missing []netip.AddrPort
	for _, ap := range res.Endpoints {
		if !got[ap] {
			missing = append(missing, ap)
		}
	}
	if len(missing) > 0 {
		suspect(&res.Suspicions, a, model.Warning, model.ReasonServiceRulesMissing, "",
			"Node %s has no rule sending %s to %s, which the EndpointSlices list as ready: kube-proxy has not synced",
			a.Node, what, joinAddrPorts(missing))
	}
}

// pinnedBranch is the branch session affinity chose for the client, nil when the client
// is balanced.
func pinnedBranch(translated []*Branch) *Branch {
	for _, b := range translated {
		if b.Pinned {
			return b
		}
	}
	return nil
}

// lastSeen says when the pinned client last connected: as the node's recent list recorded
// it in iptables mode; within the affinity timeout otherwise (nftables' sets keep the time
// left, which the rules do not carry).
func lastSeen(a Arrival, b *Branch, svc *corev1.Service) string {
	if a.Stack != nil {
		for _, e := range a.Stack.Recent {
			if e.List == b.pinList && e.Addr == a.Packet.Src {
				return fmt.Sprintf("%.0fs before the collection", e.SeenSecondsAgo)
			}
		}
	}
	timeout, _ := affinityTimeout(svc)
	return fmt.Sprintf("within the last %ds", timeout)
}

// noEndpointsWhy says why a service port has no usable endpoint, in the user's terms.
func noEndpointsWhy(snap *cluster.Snapshot, svc *corev1.Service, port *corev1.ServicePort, all []sliceEndpoint, portListed bool) string {
	if len(all) > 0 {
		return fmt.Sprintf("the EndpointSlices list %d endpoints but none is ready (nor serving while terminating)", len(all))
	}
	if len(svc.Spec.Selector) == 0 {
		return "the Service has no selector and no EndpointSlice lists an endpoint for this port"
	}
	if !portListed && port.TargetPort.Type == intstr.String {
		return fmt.Sprintf("no EndpointSlice lists the port: targetPort %q is not the name of a container port of the selected pods", port.TargetPort.StrVal)
	}
	n := len(snap.PodsSelected(svc.Namespace, svc.Spec.Selector))
	if n == 0 {
		return fmt.Sprintf("the selector %s matches no pod in namespace %s", selectorString(svc.Spec.Selector), svc.Namespace)
	}
	return fmt.Sprintf("the selector %s matches %d pods, none of them listed ready", selectorString(svc.Spec.Selector), n)
}

func selectorString(sel map[string]string) string {
	var parts []string
	for k, v := range sel {
		parts = append(parts, k+"="+v)
	}
	slicesSort(parts)
	return strings.Join(parts, ",")
}

func endpointNodes(all []sliceEndpoint) string {
	seen := map[string]bool{}
	var nodes []string
	for _, e := range all {
		if e.Ready && e.Node != "" && !seen[e.Node] {
			seen[e.Node] = true
			nodes = append(nodes, e.Node)
		}
	}
	if len(nodes) == 0 {
		return "no node"
	}
	slicesSort(nodes)
	return strings.Join(nodes, ", ")
}

func conditions(e sliceEndpoint, node string, local bool) string {
	var c []string
	if !e.Ready {
		c = append(c, "not ready")
	}
	if e.Terminating {
		c = append(c, "terminating")
	}
	if local && e.Node != node {
		c = append(c, "on node "+e.Node+" (the policy is Local)")
	}
	if len(c) == 0 {
		return "unused"
	}
	return strings.Join(c, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// suspect adds a suspicion at the arrival's node.
func suspect(list *[]model.Suspicion, a Arrival, level model.Level, reason model.Reason, rule, format string, args ...any) {
	*list = append(*list, model.Suspicion{Level: level, Reason: reason, Node: a.Node, Rule: rule, Message: fmt.Sprintf(format, args...)})
}

func joinAddrPorts(aps []netip.AddrPort) string {
	s := make([]string, len(aps))
	for i, ap := range aps {
		s[i] = ap.String()
	}
	return strings.Join(s, ", ")
}

func slicesSort(s []string) { slices.Sort(s) }

func pastTense(o Outcome) string {
	if o == Rejected {
		return "rejects"
	}
	return "drops"
}

func hasReason(list []model.Suspicion, r model.Reason) bool {
	for _, s := range list {
		if s.Reason == r {
			return true
		}
	}
	return false
}

// stopReason is the code of a branch a rule stopped, by the rule's ruleset.
func stopReason(b *Branch) model.Reason {
	nft := b.decider != nil && b.decider.Ruleset() == nf.NFTables
	switch {
	case b.Outcome == Rejected && nft:
		return model.ReasonNFTablesReject
	case b.Outcome == Rejected:
		return model.ReasonIPTablesReject
	case nft:
		return model.ReasonNFTablesDrop
	}
	return model.ReasonIPTablesDrop
}
