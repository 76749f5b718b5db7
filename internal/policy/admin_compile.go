package policy

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
)

// compiledAdmin is one AdminNetworkPolicy, BaselineAdminNetworkPolicy or
// ClusterNetworkPolicy in one shape: the three share their subjects and peers, and differ in
// action names and in how ports are written. As for NetworkPolicy, what does not parse is
// kept as a problem and never widens what the policy allows.
type compiledAdmin struct {
	ref AdminRef
	// subjectNS is nil when the subject does not parse: the policy then applies to no pod.
	subjectNS   labels.Selector
	subjectPods labels.Selector
	ingress     []compiledAdminRule
	egress      []compiledAdminRule
	problems    []string
}

type compiledAdminRule struct {
	name   string
	action AdminAction
	peers  []compiledAdminPeer
	// anyPort is true when the rule names no ports or protocols: every protocol and port.
	anyPort bool
	ports   []adminPort
	// domains is set when a peer names DNS names, which an address cannot be matched to.
	domains bool
}

type adminPeerKind int

const (
	// adminPeerUnknown is a peer with no field the engine knows (a newer CRD's field, or one
	// that does not parse). The API says to fail closed: an Allow rule's such peer matches
	// nothing, a Deny or Pass rule's matches everything.
	adminPeerUnknown adminPeerKind = iota
	adminPeerNamespaces
	adminPeerPods
	adminPeerNodes
	adminPeerNetworks
	// adminPeerDomains names hosts by DNS name, which the snapshot cannot tell from an
	// address: such a peer is taken not to match, with a note.
	adminPeerDomains
)

type compiledAdminPeer struct {
	kind       adminPeerKind
	namespaces labels.Selector
	pods       labels.Selector
	nodes      labels.Selector
	networks   []netip.Prefix
	domains    []string
}

// adminPort is a port entry: a protocol with a port range, or a named port, which in these
// APIs names the destination pod's container port of any protocol.
type adminPort struct {
	named string
	port  compiledPort
}

// compileAdminPolicies compiles every cluster-wide policy of the snapshot, in evaluation
// order: tier, then priority, then kind and name (the API leaves equal priorities to the
// implementation; the order is only made stable here).
func compileAdminPolicies(a *cluster.AdminPolicies) []*compiledAdmin {
	var out []*compiledAdmin
	for i := range a.AdminNetworkPolicies {
		p := &a.AdminNetworkPolicies[i]
		c := newCompiledAdmin(AdminRef{Kind: cluster.KindAdminNetworkPolicy, Name: p.Name, Tier: TierAdmin, Priority: p.Spec.Priority}, &p.Spec.Subject)
		c.compileV1Alpha1(p.Spec.Ingress, p.Spec.Egress)
		out = append(out, c)
	}
	for i := range a.BaselineAdminNetworkPolicies {
		p := &a.BaselineAdminNetworkPolicies[i]
		// The baseline policy has no priority; it comes after every ClusterNetworkPolicy of
		// the baseline tier, since a cluster runs one API or the other.
		c := newCompiledAdmin(AdminRef{Kind: cluster.KindBaselineAdminNetworkPolicy, Name: p.Name, Tier: TierBaseline, Priority: 1001}, &p.Spec.Subject)
		c.compileV1Alpha1(p.Spec.Ingress, p.Spec.Egress)
		out = append(out, c)
	}
	for i := range a.ClusterNetworkPolicies {
		p := &a.ClusterNetworkPolicies[i]
		tier := AdminTier(p.Spec.Tier)
		c := newCompiledAdmin(AdminRef{Kind: cluster.KindClusterNetworkPolicy, Name: p.Name, Tier: tier, Priority: p.Spec.Priority}, &p.Spec.Subject)
		if tier != TierAdmin && tier != TierBaseline {
			c.problem("spec.tier %q is neither Admin nor Baseline; the policy applies to no pod", p.Spec.Tier)
			c.subjectNS = nil
		}
		for j := range p.Spec.Ingress {
			r := &p.Spec.Ingress[j]
			c.ingress = append(c.ingress, c.compileRule(fmt.Sprintf("ingress[%d]", j), r.Name, r.Action, r.From, nil, r.Protocols, true))
		}
		for j := range p.Spec.Egress {
			r := &p.Spec.Egress[j]
			c.egress = append(c.egress, c.compileRule(fmt.Sprintf("egress[%d]", j), r.Name, r.Action, r.To, nil, r.Protocols, true))
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *compiledAdmin) int {
		return cmp.Or(cmp.Compare(a.ref.Tier.order(), b.ref.Tier.order()), cmp.Compare(a.ref.Priority, b.ref.Priority),
			cmp.Compare(a.ref.Kind, b.ref.Kind), cmp.Compare(a.ref.Name, b.ref.Name))
	})
	return out
}

func newCompiledAdmin(ref AdminRef, s *cluster.AdminSubject) *compiledAdmin {
	c := &compiledAdmin{ref: ref}
	switch {
	case s.Namespaces != nil && s.Pods == nil:
		c.subjectNS = c.selector("spec.subject.namespaces", s.Namespaces)
	case s.Pods != nil && s.Namespaces == nil:
		ns := c.selector("spec.subject.pods.namespaceSelector", &s.Pods.NamespaceSelector)
		pods := c.selector("spec.subject.pods.podSelector", &s.Pods.PodSelector)
		if ns != nil && pods != nil {
			c.subjectNS, c.subjectPods = ns, pods
		}
	default:
		c.problem("spec.subject must set exactly one of namespaces and pods, which the API enforces; the policy applies to no pod")
	}
	return c
}

func (c *compiledAdmin) problem(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf("%s %s: ", c.ref.Kind, c.ref.Name)+fmt.Sprintf(format, args...))
}

// selector parses a label selector, or returns nil (matching nothing) with a problem.
func (c *compiledAdmin) selector(where string, s *metav1.LabelSelector) labels.Selector {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		c.problem("%s does not parse (%v): as a subject it selects no pod, as a peer it fails closed", where, err)
		return nil
	}
	return sel
}

func (c *compiledAdmin) compileV1Alpha1(ingress []cluster.AdminIngressRule, egress []cluster.AdminEgressRule) {
	for i := range ingress {
		r := &ingress[i]
		c.ingress = append(c.ingress, c.compileRule(fmt.Sprintf("ingress[%d]", i), r.Name, r.Action, r.From, r.Ports, nil, false))
	}
	for i := range egress {
		r := &egress[i]
		c.egress = append(c.egress, c.compileRule(fmt.Sprintf("egress[%d]", i), r.Name, r.Action, r.To, r.Ports, nil, false))
	}
}

// compileRule compiles a rule of either API: ports is the v1alpha1 list, protocols the
// ClusterNetworkPolicy one.
func (c *compiledAdmin) compileRule(where, name, action string, peers []cluster.AdminPeer, ports *[]cluster.AdminPort, protocols []cluster.ClusterProtocol, cnp bool) compiledAdminRule {
	r := compiledAdminRule{name: name, action: c.action(where, action, cnp)}
	if len(peers) == 0 {
		c.problem("%s has no peers, which the API rejects; it matches nothing", where)
	}
	for i := range peers {
		r.peers = append(r.peers, c.compilePeer(fmt.Sprintf("%s.peer[%d]", where, i), &peers[i]))
		r.domains = r.domains || r.peers[i].kind == adminPeerDomains
		if r.peers[i].kind == adminPeerUnknown && r.action == ActionPass {
			// Failing closed makes a Pass rule a "deny all" one.
			r.action = ActionDeny
		}
	}
	switch {
	case cnp:
		r.anyPort = len(protocols) == 0
		for i := range protocols {
			if p, ok := c.compileProtocol(fmt.Sprintf("%s.protocols[%d]", where, i), &protocols[i]); ok {
				r.ports = append(r.ports, p)
			}
		}
	default:
		r.anyPort = ports == nil
		if ports != nil {
			for i := range *ports {
				if p, ok := c.compilePort(fmt.Sprintf("%s.ports[%d]", where, i), &(*ports)[i]); ok {
					r.ports = append(r.ports, p)
				}
			}
		}
	}
	return r
}

func (c *compiledAdmin) action(where, action string, cnp bool) AdminAction {
	switch {
	case action == "Allow" && !cnp, action == "Accept" && cnp:
		return ActionAllow
	case action == "Deny":
		return ActionDeny
	case action == "Pass" && (cnp || c.ref.Tier == TierAdmin):
		return ActionPass
	}
	// Failing closed: a rule whose action is unknown denies what it matches.
	c.problem("%s.action %q is not an action of the API; the rule is taken to deny", where, action)
	return ActionDeny
}

func (c *compiledAdmin) compilePeer(where string, p *cluster.AdminPeer) compiledAdminPeer {
	set := 0
	for _, b := range []bool{p.Namespaces != nil, p.Pods != nil, p.Nodes != nil, p.Networks != nil, p.DomainNames != nil} {
		if b {
			set++
		}
	}
	if set != 1 {
		c.problem("%s sets %d fields where the API wants exactly one; it fails closed", where, set)
		return compiledAdminPeer{}
	}
	switch {
	case p.Namespaces != nil:
		if sel := c.namespaces(where+".namespaces", p.Namespaces); sel != nil {
			return compiledAdminPeer{kind: adminPeerNamespaces, namespaces: sel}
		}
	case p.Pods != nil:
		var ns labels.Selector
		if p.Pods.Namespaces != nil {
			ns = c.namespaces(where+".pods.namespaces", p.Pods.Namespaces)
		} else {
			ns = c.selector(where+".pods.namespaceSelector", &p.Pods.NamespaceSelector)
		}
		pods := c.selector(where+".pods.podSelector", &p.Pods.PodSelector)
		if ns != nil && pods != nil {
			return compiledAdminPeer{kind: adminPeerPods, namespaces: ns, pods: pods}
		}
	case p.Nodes != nil:
		if sel := c.selector(where+".nodes", p.Nodes); sel != nil {
			return compiledAdminPeer{kind: adminPeerNodes, nodes: sel}
		}
	case p.Networks != nil:
		out := compiledAdminPeer{kind: adminPeerNetworks}
		for _, n := range p.Networks {
			pfx, err := netip.ParsePrefix(n)
			if err != nil {
				c.problem("%s.networks %q does not parse: %v; it fails closed", where, n, err)
				return compiledAdminPeer{}
			}
			out.networks = append(out.networks, pfx.Masked())
		}
		return out
	case p.DomainNames != nil:
		return compiledAdminPeer{kind: adminPeerDomains, domains: p.DomainNames}
	}
	return compiledAdminPeer{}
}

// namespaces parses a peer's namespaces in either shape. v0.1.1's sameLabels and
// notSameLabels compare the two ends' namespaces, which this evaluation does not: such a peer
// fails closed, as does one of neither shape.
func (c *compiledAdmin) namespaces(where string, n *cluster.AdminNamespaces) labels.Selector {
	switch {
	case n.SameLabels != nil || n.NotSameLabels != nil:
		c.problem("%s uses sameLabels or notSameLabels (the API's v0.1.1), which are not evaluated; it fails closed", where)
		return nil
	case n.NamespaceSelector != nil:
		return c.selector(where+".namespaceSelector", n.NamespaceSelector)
	}
	return c.selector(where, &n.LabelSelector)
}

func (c *compiledAdmin) compilePort(where string, p *cluster.AdminPort) (adminPort, bool) {
	switch {
	case p.NamedPort != nil:
		return adminPort{named: *p.NamedPort}, true
	case p.PortNumber != nil:
		return c.portRange(where, p.PortNumber.Protocol, p.PortNumber.Port, p.PortNumber.Port)
	case p.PortRange != nil:
		return c.portRange(where, p.PortRange.Protocol, p.PortRange.Start, p.PortRange.End)
	}
	c.problem("%s sets no portNumber, namedPort or portRange; it matches nothing", where)
	return adminPort{}, false
}

func (c *compiledAdmin) compileProtocol(where string, p *cluster.ClusterProtocol) (adminPort, bool) {
	var (
		proto corev1.Protocol
		ports *cluster.ClusterProtocolPorts
	)
	switch {
	case p.DestinationNamedPort != "":
		return adminPort{named: p.DestinationNamedPort}, true
	case p.TCP != nil:
		proto, ports = corev1.ProtocolTCP, p.TCP
	case p.UDP != nil:
		proto, ports = corev1.ProtocolUDP, p.UDP
	case p.SCTP != nil:
		proto, ports = corev1.ProtocolSCTP, p.SCTP
	default:
		c.problem("%s sets no protocol the engine knows; it matches nothing", where)
		return adminPort{}, false
	}
	switch dp := ports.DestinationPort; {
	case dp == nil:
		return adminPort{port: compiledPort{protocol: model.Protocol(proto), anyPort: true}}, true
	case dp.Range != nil:
		return c.portRange(where, proto, dp.Range.Start, dp.Range.End)
	default:
		return c.portRange(where, proto, dp.Number, dp.Number)
	}
}

func (c *compiledAdmin) portRange(where string, proto corev1.Protocol, lo, hi int32) (adminPort, bool) {
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	if proto != corev1.ProtocolTCP && proto != corev1.ProtocolUDP && proto != corev1.ProtocolSCTP {
		c.problem("%s.protocol %q is not TCP, UDP or SCTP; it matches nothing", where, proto)
		return adminPort{}, false
	}
	if lo < 1 || hi > 65535 || hi < lo {
		c.problem("%s port range %d-%d is out of range; it matches nothing", where, lo, hi)
		return adminPort{}, false
	}
	return adminPort{port: compiledPort{protocol: model.Protocol(proto), lo: uint16(lo), hi: uint16(hi)}}, true
}
