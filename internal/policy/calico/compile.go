package calico

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdiag/netdiag/internal/policy/calico/crd"
	"github.com/netdiag/netdiag/internal/policy/calico/selector"
)

// compiledPolicy is a policy as felix holds it: the selector of the endpoints it applies to
// (its namespace and service-account selector folded in) and its rules, ready to match.
type compiledPolicy struct {
	id    PolicyID
	order float64
	// applies selects the endpoints; nil when the policy's selector does not parse, and
	// then it applies to none (felix would reject it).
	applies         *selector.Selector
	ingress, egress bool
	in, out         []compiledRule
	doNotTrack      bool
	preDNAT         bool
	applyOnForward  bool
	problems        []string
}

type compiledRule struct {
	action      Action
	ipVersion   int
	protocol    int // -1: any
	notProtocol int // -1: none
	icmp        *icmpMatch
	notICMP     *icmpMatch
	src, dst    compiledEntity
	// unsupported names a match the model does not evaluate (HTTP, services); such a rule
	// is taken as not matching, and the verdict says it was uncertain.
	unsupported string
}

type icmpMatch struct{ typ, code int }

type compiledEntity struct {
	// sel and notSel are nil when the rule does not restrict by selector.
	sel, notSel   *selector.Selector
	nets, notNets []netip.Prefix
	ports         []portMatch
	notPorts      []portMatch
}

type portMatch struct {
	lo, hi uint16
	name   string
}

// compilePolicy reads a stored policy. namespace is "" for a GlobalNetworkPolicy.
func compilePolicy(p *crd.Policy, namespace string) *compiledPolicy {
	tier := p.Spec.Tier
	if tier == "" {
		tier = tierFromName(p.Name)
	}
	c := &compiledPolicy{
		id:         PolicyID{Tier: tier, Namespace: namespace, Name: backendName(p.Name, tier)},
		order:      math.Inf(1),
		doNotTrack: p.Spec.DoNotTrack, preDNAT: p.Spec.PreDNAT, applyOnForward: p.Spec.ApplyOnForward,
	}
	if p.Spec.Order != nil {
		c.order = *p.Spec.Order
	}
	c.applies = c.policySelector(p.Spec, namespace)
	c.ingress, c.egress = policyTypes(p.Spec)
	for i := range p.Spec.Ingress {
		c.in = append(c.in, c.compileRule(fmt.Sprintf("ingress rule %d", i), &p.Spec.Ingress[i], namespace))
	}
	for i := range p.Spec.Egress {
		c.out = append(c.out, c.compileRule(fmt.Sprintf("egress rule %d", i), &p.Spec.Egress[i], namespace))
	}
	return c
}

// tierFromName is libcalico-go's TierFromPolicyName: Kubernetes policies are in the default
// tier, other names carry their tier before the first dot, and a name without one is in
// the default tier.
func tierFromName(name string) string {
	if strings.HasPrefix(name, KNPPrefix) {
		return TierDefault
	}
	if t, _, ok := strings.Cut(name, "."); ok {
		return t
	}
	return TierDefault
}

// backendName is the stored name with its tier prefix, as felix names the policy.
func backendName(name, tier string) string {
	if strings.HasPrefix(name, KNPPrefix) || strings.HasPrefix(name, tier+".") {
		return name
	}
	if !strings.Contains(name, ".") {
		return TierDefault + "." + name
	}
	return name
}

// policyTypes is the policy's types, or Calico's default: Egress alone when it has egress
// rules and no ingress rules, both when it has both, else Ingress.
func policyTypes(s crd.PolicySpec) (ingress, egress bool) {
	if len(s.Types) == 0 {
		return len(s.Ingress) > 0 || len(s.Egress) == 0, len(s.Egress) > 0
	}
	for _, t := range s.Types {
		switch strings.ToLower(t) {
		case "ingress":
			ingress = true
		case "egress":
			egress = true
		}
	}
	return ingress, egress
}

func (c *compiledPolicy) parse(what, text string) *selector.Selector {
	s, err := selector.Parse(text)
	if err != nil {
		c.problems = append(c.problems, what+": "+err.Error())
		return nil
	}
	return s
}

// policySelector is the selector felix applies the policy by (libcalico-go's v3 to v1
// conversion): a namespaced policy's own namespace, a global policy's namespaceSelector
// on the inherited namespace labels, and the serviceAccountSelector on the inherited
// service-account labels.
func (c *compiledPolicy) policySelector(s crd.PolicySpec, namespace string) *selector.Selector {
	sel := c.parse("selector", s.Selector)
	if sel == nil {
		return nil
	}
	parts := []*selector.Selector{sel}
	if namespace != "" {
		parts = append(parts, selector.Equal(LabelNamespace, namespace))
	} else if s.NamespaceSelector != "" {
		ns := c.parse("namespaceSelector", s.NamespaceSelector)
		if ns == nil {
			return nil
		}
		parts = append(parts, namespaceSel(ns))
	}
	if s.ServiceAccountSelector != "" {
		sa := c.parse("serviceAccountSelector", s.ServiceAccountSelector)
		if sa == nil {
			return nil
		}
		parts = append(parts, sa.Prefixed(prefixSA))
	}
	return selector.And(parts...)
}

func namespaceSel(ns *selector.Selector) *selector.Selector {
	return ns.Rewritten(prefixNamespace, selector.Has(LabelNamespace), selector.Not(selector.Has(LabelNamespace)))
}

func (c *compiledPolicy) compileRule(where string, r *crd.Rule, namespace string) compiledRule {
	out := compiledRule{protocol: -1, notProtocol: -1}
	switch strings.ToLower(r.Action) {
	case "allow":
		out.action = Allow
	case "deny":
		out.action = Deny
	case "pass", "next-tier":
		out.action = Pass
	case "log":
		out.action = Log
	default:
		out.unsupported = fmt.Sprintf("%s: action %q", where, r.Action)
	}
	if r.IPVersion != nil {
		out.ipVersion = *r.IPVersion
	}
	out.protocol = c.protocol(where, r.Protocol)
	out.notProtocol = c.protocol(where, r.NotProtocol)
	out.icmp, out.notICMP = icmpOf(r.ICMP), icmpOf(r.NotICMP)
	out.src = c.entity(where+" source", &r.Source, namespace)
	out.dst = c.entity(where+" destination", &r.Destination, namespace)
	switch {
	case len(r.HTTP) > 0 && string(r.HTTP) != "null":
		out.unsupported = where + ": an HTTP match (application layer policy)"
	case r.Source.Services != nil || r.Destination.Services != nil:
		out.unsupported = where + ": a services match"
	}
	return out
}

func (c *compiledPolicy) protocol(where string, p *intstr.IntOrString) int {
	if p == nil {
		return -1
	}
	n := protocolNumber(p.String())
	if n < 0 {
		c.problems = append(c.problems, fmt.Sprintf("%s: protocol %q", where, p.String()))
	}
	return n
}

func icmpOf(f *crd.ICMPFields) *icmpMatch {
	if f == nil {
		return nil
	}
	m := &icmpMatch{typ: -1, code: -1}
	if f.Type != nil {
		m.typ = *f.Type
	}
	if f.Code != nil {
		m.code = *f.Code
	}
	return m
}

// entity compiles a source or destination as getEndpointSelector does: the service
// accounts and the selector together, restricted to the rule's namespaceSelector, or, in a
// namespaced policy without one, to the policy's namespace, whenever the rule selects at
// all.
func (c *compiledPolicy) entity(where string, e *crd.EntityRule, namespace string) compiledEntity {
	var out compiledEntity
	var parts []*selector.Selector
	if sa := e.ServiceAccounts; sa != nil {
		if sa.Selector != "" {
			if s := c.parse(where+" serviceAccounts.selector", sa.Selector); s != nil {
				parts = append(parts, s.Prefixed(prefixSA))
			} else {
				parts = append(parts, selector.Not(selector.All()))
			}
		}
		if len(sa.Names) > 0 {
			parts = append(parts, selector.In(LabelServiceAccount, sa.Names...))
		}
	}
	if e.Selector != "" {
		if s := c.parse(where+" selector", e.Selector); s != nil {
			parts = append(parts, s)
		} else {
			parts = append(parts, selector.Not(selector.All()))
		}
	}
	var ns *selector.Selector
	switch {
	case e.NamespaceSelector != "":
		if s := c.parse(where+" namespaceSelector", e.NamespaceSelector); s != nil {
			ns = namespaceSel(s)
		} else {
			ns = selector.Not(selector.All())
		}
	case namespace != "":
		ns = selector.Equal(LabelNamespace, namespace)
	}
	if len(parts) > 0 || (ns != nil && (e.NotSelector != "" || e.NamespaceSelector != "")) {
		out.sel = selector.And(append([]*selector.Selector{ns}, parts...)...)
	}
	if e.NotSelector != "" {
		out.notSel = c.parse(where+" notSelector", e.NotSelector)
	}
	out.nets = c.nets(where+" nets", e.Nets)
	out.notNets = c.nets(where+" notNets", e.NotNets)
	out.ports = c.ports(where+" ports", e.Ports)
	out.notPorts = c.ports(where+" notPorts", e.NotPorts)
	return out
}

func (c *compiledPolicy) nets(where string, in []string) []netip.Prefix {
	nets, bad := parseNets(in)
	for _, b := range bad {
		c.problems = append(c.problems, fmt.Sprintf("%s: %q is no CIDR", where, b))
	}
	return nets
}

func (c *compiledPolicy) ports(where string, in []intstr.IntOrString) []portMatch {
	var out []portMatch
	for _, p := range in {
		pm, ok := parsePort(p)
		if !ok {
			c.problems = append(c.problems, fmt.Sprintf("%s: port %q", where, p.String()))
			continue
		}
		out = append(out, pm)
	}
	return out
}

// parsePort reads a port as numorstring does: a number, "first:last", or a name.
func parsePort(p intstr.IntOrString) (portMatch, bool) {
	if p.Type == intstr.Int {
		if p.IntVal < 0 || p.IntVal > 65535 {
			return portMatch{}, false
		}
		return portMatch{lo: uint16(p.IntVal), hi: uint16(p.IntVal)}, true
	}
	s := strings.TrimSpace(p.StrVal)
	if lo, hi, ok := strings.Cut(s, ":"); ok {
		l, err1 := strconv.ParseUint(lo, 10, 16)
		h, err2 := strconv.ParseUint(hi, 10, 16)
		if err1 != nil || err2 != nil || l > h {
			return portMatch{}, false
		}
		return portMatch{lo: uint16(l), hi: uint16(h)}, true
	}
	if n, err := strconv.ParseUint(s, 10, 16); err == nil {
		return portMatch{lo: uint16(n), hi: uint16(n)}, true
	}
	if s == "" {
		return portMatch{}, false
	}
	return portMatch{name: s}, true
}
