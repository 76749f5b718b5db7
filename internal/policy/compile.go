package policy

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdiag/netdiag/internal/model"
)

// compiledPolicy is a NetworkPolicy parsed once: selectors as labels.Selector, CIDRs as
// netip.Prefix, ports as ranges. Whatever does not parse matches nothing and is kept as a
// problem, so that one bad field never widens what a policy allows.
type compiledPolicy struct {
	ref PolicyRef
	// podSelector is nil when the selector does not parse: the policy then selects no pod.
	podSelector labels.Selector
	ingress     bool
	egress      bool
	ingressRule []compiledRule
	egressRule  []compiledRule
	problems    []string
}

type compiledRule struct {
	// anyPeer is true when from/to is empty or absent: every source or destination.
	anyPeer bool
	peers   []compiledPeer
	// anyPort is true when ports is empty or absent: every protocol and port.
	anyPort bool
	ports   []compiledPort
}

type peerKind int

const (
	// peerNothing is a peer that cannot match: no field set, or a field that does not parse.
	peerNothing peerKind = iota
	// peerPods selects pods in the policy's own namespace.
	peerPods
	// peerNamespaces selects pods (all, or those podSelector matches) in the selected
	// namespaces.
	peerNamespaces
	peerIPBlock
)

type compiledPeer struct {
	kind peerKind
	// pods is nil for a namespaceSelector peer without podSelector: every pod there.
	pods       labels.Selector
	namespaces labels.Selector
	cidr       netip.Prefix
	except     []netip.Prefix
}

type compiledPort struct {
	protocol model.Protocol
	// anyPort is true when port is absent: every port of the protocol.
	anyPort bool
	// name is a named port, resolved against the destination pod's container ports.
	name   string
	lo, hi uint16
}

// policyTypes returns whether the policy affects ingress and egress. An absent policyTypes
// defaults as the API server defaults it: Ingress always, Egress when there are egress rules.
func policyTypes(spec *networkingv1.NetworkPolicySpec) (ingress, egress bool) {
	if len(spec.PolicyTypes) == 0 {
		return true, len(spec.Egress) > 0
	}
	for _, t := range spec.PolicyTypes {
		switch t {
		case networkingv1.PolicyTypeIngress:
			ingress = true
		case networkingv1.PolicyTypeEgress:
			egress = true
		}
	}
	return ingress, egress
}

func compile(np *networkingv1.NetworkPolicy) *compiledPolicy {
	c := &compiledPolicy{ref: PolicyRef{Namespace: np.Namespace, Name: np.Name}}
	c.ingress, c.egress = policyTypes(&np.Spec)
	for _, t := range np.Spec.PolicyTypes {
		if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
			c.problem("policyTypes holds %q, which is neither Ingress nor Egress; it is ignored", t)
		}
	}
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		c.problem("spec.podSelector does not parse, so the policy selects no pod: %v", err)
	} else {
		c.podSelector = sel
	}
	// Rules of a direction the policy does not affect are never evaluated, so they are not
	// compiled either (a policy with policyTypes [Egress] and ingress rules allows nothing in).
	if c.ingress {
		for i := range np.Spec.Ingress {
			r := &np.Spec.Ingress[i]
			c.ingressRule = append(c.ingressRule, c.compileRule(fmt.Sprintf("ingress[%d]", i), r.From, r.Ports))
		}
	}
	if c.egress {
		for i := range np.Spec.Egress {
			r := &np.Spec.Egress[i]
			c.egressRule = append(c.egressRule, c.compileRule(fmt.Sprintf("egress[%d]", i), r.To, r.Ports))
		}
	}
	return c
}

func (c *compiledPolicy) problem(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf("NetworkPolicy %s: ", c.ref)+fmt.Sprintf(format, args...))
}

func (c *compiledPolicy) compileRule(where string, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) compiledRule {
	r := compiledRule{anyPeer: len(peers) == 0, anyPort: len(ports) == 0}
	for i := range peers {
		r.peers = append(r.peers, c.compilePeer(fmt.Sprintf("%s.peer[%d]", where, i), &peers[i]))
	}
	for i := range ports {
		if p, ok := c.compilePort(fmt.Sprintf("%s.ports[%d]", where, i), &ports[i]); ok {
			r.ports = append(r.ports, p)
		}
	}
	return r
}

func (c *compiledPolicy) compilePeer(where string, p *networkingv1.NetworkPolicyPeer) compiledPeer {
	if p.IPBlock != nil {
		if p.PodSelector != nil || p.NamespaceSelector != nil {
			c.problem("%s sets ipBlock together with a selector, which the API rejects; it matches nothing", where)
			return compiledPeer{}
		}
		return c.compileIPBlock(where, p.IPBlock)
	}
	if p.PodSelector == nil && p.NamespaceSelector == nil {
		c.problem("%s sets no podSelector, namespaceSelector or ipBlock, which the API rejects; it matches nothing", where)
		return compiledPeer{}
	}
	out := compiledPeer{kind: peerPods}
	if p.PodSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(p.PodSelector)
		if err != nil {
			c.problem("%s.podSelector does not parse, so the peer matches nothing: %v", where, err)
			return compiledPeer{}
		}
		out.pods = sel
	}
	if p.NamespaceSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(p.NamespaceSelector)
		if err != nil {
			c.problem("%s.namespaceSelector does not parse, so the peer matches nothing: %v", where, err)
			return compiledPeer{}
		}
		out.kind = peerNamespaces
		out.namespaces = sel
	}
	return out
}

func (c *compiledPolicy) compileIPBlock(where string, b *networkingv1.IPBlock) compiledPeer {
	cidr, err := netip.ParsePrefix(b.CIDR)
	if err != nil {
		c.problem("%s.ipBlock.cidr %q does not parse, so the peer matches nothing: %v", where, b.CIDR, err)
		return compiledPeer{}
	}
	out := compiledPeer{kind: peerIPBlock, cidr: cidr.Masked()}
	for _, e := range b.Except {
		ex, err := netip.ParsePrefix(e)
		if err != nil {
			// Skipping the except would allow addresses the author meant to exclude.
			c.problem("%s.ipBlock.except %q does not parse, so the peer matches nothing: %v", where, e, err)
			return compiledPeer{}
		}
		out.except = append(out.except, ex.Masked())
	}
	return out
}

func (c *compiledPolicy) compilePort(where string, p *networkingv1.NetworkPolicyPort) (compiledPort, bool) {
	out := compiledPort{protocol: model.TCP}
	if p.Protocol != nil {
		switch *p.Protocol {
		case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
			out.protocol = model.Protocol(*p.Protocol)
		default:
			c.problem("%s.protocol %q is not TCP, UDP or SCTP; the port matches nothing", where, *p.Protocol)
			return compiledPort{}, false
		}
	}
	if p.Port == nil {
		if p.EndPort != nil {
			c.problem("%s sets endPort without port, which the API rejects; it matches every port", where)
		}
		out.anyPort = true
		return out, true
	}
	if p.Port.Type == intstr.String {
		out.name = p.Port.StrVal
		if p.EndPort != nil {
			c.problem("%s sets endPort with the named port %q, which the API rejects; endPort is ignored", where, out.name)
		}
		return out, true
	}
	if p.Port.IntVal < 1 || p.Port.IntVal > 65535 {
		c.problem("%s.port %d is out of range; it matches nothing", where, p.Port.IntVal)
		return compiledPort{}, false
	}
	out.lo, out.hi = uint16(p.Port.IntVal), uint16(p.Port.IntVal)
	if p.EndPort != nil {
		if *p.EndPort < p.Port.IntVal || *p.EndPort > 65535 {
			c.problem("%s.endPort %d is below port %d or out of range; the range matches nothing", where, *p.EndPort, p.Port.IntVal)
			return compiledPort{}, false
		}
		out.hi = uint16(*p.EndPort)
	}
	return out, true
}

// selects reports whether the policy applies to the pod: same namespace, labels match.
func (c *compiledPolicy) selects(pod *corev1.Pod) bool {
	return c.podSelector != nil && c.ref.Namespace == pod.Namespace && c.podSelector.Matches(labels.Set(pod.Labels))
}

// matches reports whether the rule allows traffic with the peer on the other side. dst is
// the destination pod whose container ports resolve named ports (nil if the destination is
// no pod-network pod, and then no named port matches).
func (r *compiledRule) matches(policyNS string, peer *endpoint, proto model.Protocol, port uint16, dst *corev1.Pod) bool {
	return r.matchesPort(proto, port, dst) && r.matchesPeer(policyNS, peer)
}

func (r *compiledRule) matchesPort(proto model.Protocol, port uint16, dst *corev1.Pod) bool {
	if r.anyPort {
		return true
	}
	for i := range r.ports {
		if r.ports[i].matches(proto, port, dst) {
			return true
		}
	}
	return false
}

func (r *compiledRule) matchesPeer(policyNS string, peer *endpoint) bool {
	if r.anyPeer {
		return true
	}
	for i := range r.peers {
		if r.peers[i].matches(policyNS, peer) {
			return true
		}
	}
	return false
}

func (p *compiledPeer) matches(policyNS string, e *endpoint) bool {
	switch p.kind {
	case peerPods:
		// Selectors only ever match pod-network pods: nodes, host-network pods and outside
		// addresses are reached only through ipBlock.
		return e.pod != nil && e.pod.Namespace == policyNS && p.pods.Matches(labels.Set(e.pod.Labels))
	case peerNamespaces:
		if e.pod == nil || !p.namespaces.Matches(e.nsLabels()) {
			return false
		}
		return p.pods == nil || p.pods.Matches(labels.Set(e.pod.Labels))
	case peerIPBlock:
		if !e.ip.IsValid() || !p.cidr.Contains(e.ip) {
			return false
		}
		for _, ex := range p.except {
			if ex.Contains(e.ip) {
				return false
			}
		}
		return true
	}
	return false
}

func (p *compiledPort) matches(proto model.Protocol, port uint16, dst *corev1.Pod) bool {
	if proto != p.protocol {
		return false
	}
	if p.anyPort {
		return true
	}
	if p.name != "" {
		cp, ok := namedPort(dst, p.name, proto)
		return ok && cp == port
	}
	return p.lo <= port && port <= p.hi
}

// namedPort resolves a port name against the pod's container ports (and those of restartable
// init containers, which serve like containers) for the protocol.
func namedPort(pod *corev1.Pod, name string, proto model.Protocol) (uint16, bool) {
	if pod == nil {
		return 0, false
	}
	find := func(cs []corev1.Container, sidecarsOnly bool) (uint16, bool) {
		for i := range cs {
			if sidecarsOnly && (cs[i].RestartPolicy == nil || *cs[i].RestartPolicy != corev1.ContainerRestartPolicyAlways) {
				continue
			}
			for _, cp := range cs[i].Ports {
				p := cp.Protocol
				if p == "" {
					p = corev1.ProtocolTCP
				}
				if cp.Name == name && model.Protocol(p) == proto && cp.ContainerPort > 0 && cp.ContainerPort <= 65535 {
					return uint16(cp.ContainerPort), true
				}
			}
		}
		return 0, false
	}
	if port, ok := find(pod.Spec.Containers, false); ok {
		return port, true
	}
	return find(pod.Spec.InitContainers, true)
}
