package calico

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"sync"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/policy/calico/crd"
)

// Model is Calico's policy model of one cluster snapshot. It compiles the global objects
// once and each namespace's policies on first use; it is safe for concurrent use.
type Model struct {
	snap    *cluster.Snapshot
	objs    cluster.CalicoObjects
	tiers   map[string]tierInfo
	global  []*compiledPolicy
	heps    []*crd.HostEndpoint
	sets    []netSet
	nsMu    sync.Mutex
	byNs    map[string][]*compiledPolicy
	hepNets map[*crd.HostEndpoint][]netip.Prefix
}

type tierInfo struct {
	name          string
	order         float64
	defaultAction Action
}

type netSet struct {
	entity
	nets []netip.Prefix
}

// New returns the model of snap: its Calico objects (none, when the cluster has no Calico
// CRDs: then only Kubernetes NetworkPolicies and profiles speak) and its Kubernetes
// NetworkPolicies as Calico converts them.
func New(snap *cluster.Snapshot) *Model {
	m := &Model{snap: snap, objs: snap.CalicoObjects(), byNs: map[string][]*compiledPolicy{},
		tiers: map[string]tierInfo{TierDefault: {name: TierDefault, order: DefaultTierOrder, defaultAction: Deny}}}
	if m.objs == nil {
		return m
	}
	for _, t := range m.objs.CalicoTiers() {
		ti := tierInfo{name: t.Name, order: math.Inf(1), defaultAction: Deny}
		if t.Spec.Order != nil {
			ti.order = *t.Spec.Order
		}
		if t.Spec.DefaultAction == string(Pass) {
			ti.defaultAction = Pass
		}
		m.tiers[t.Name] = ti
	}
	for _, p := range m.objs.CalicoGlobalNetworkPolicies() {
		m.global = append(m.global, compilePolicy(p, ""))
	}
	m.heps = m.objs.CalicoHostEndpoints()
	m.hepNets = map[*crd.HostEndpoint][]netip.Prefix{}
	for _, h := range m.heps {
		m.hepNets[h], _ = parseNets(h.Spec.ExpectedIPs)
	}
	for _, s := range m.objs.CalicoNetworkSets() {
		nets, _ := parseNets(s.Spec.Nets)
		e := entity{labels: map[string]string{}}
		for k, v := range s.Labels {
			e.labels[k] = v
		}
		if s.Namespace != "" {
			e.namespaced = true
			e.labels[LabelNamespace] = s.Namespace
			addNamespaceLabels(e.labels, s.Namespace, snap.Namespace(s.Namespace))
		}
		m.sets = append(m.sets, netSet{entity: e, nets: nets})
	}
	return m
}

// HasCalicoObjects reports whether the snapshot holds any of Calico's own objects.
func (m *Model) HasCalicoObjects() bool { return m.objs != nil }

// namespacePolicies returns the compiled Calico and Kubernetes policies of a namespace.
func (m *Model) namespacePolicies(ns string) []*compiledPolicy {
	m.nsMu.Lock()
	defer m.nsMu.Unlock()
	if ps, ok := m.byNs[ns]; ok {
		return ps
	}
	var ps []*compiledPolicy
	if m.objs != nil {
		for _, p := range m.objs.CalicoNetworkPoliciesIn(ns) {
			ps = append(ps, compilePolicy(p, ns))
		}
	}
	for _, np := range m.snap.NetworkPoliciesIn(ns) {
		ps = append(ps, compilePolicy(FromKubernetes(np), ns))
	}
	m.byNs[ns] = ps
	return ps
}

// TierOrder is a tier's order as felix sorts the tiers (a tier without its Tier object last).
func (m *Model) TierOrder(name string) float64 { return m.tier(name).order }

// tier returns what the model knows of a tier; a tier without its Tier object is ordered
// last, as felix cannot order it either.
func (m *Model) tier(name string) tierInfo {
	if t, ok := m.tiers[name]; ok {
		return t
	}
	return tierInfo{name: name, order: math.Inf(1), defaultAction: Deny}
}

// tieredPolicies groups the policies that may apply to ep by tier, tiers and policies each
// in felix's order: ascending order, then name.
func (m *Model) tieredPolicies(ep *Endpoint) [][]*compiledPolicy {
	var all []*compiledPolicy
	all = append(all, m.global...)
	if ep.Kind == Workload {
		all = append(all, m.namespacePolicies(ep.Namespace)...)
	}
	byTier := map[string][]*compiledPolicy{}
	for _, p := range all {
		byTier[p.id.Tier] = append(byTier[p.id.Tier], p)
	}
	names := make([]string, 0, len(byTier))
	for n := range byTier {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(m.tier(a).order, m.tier(b).order), cmp.Compare(a, b))
	})
	out := make([][]*compiledPolicy, 0, len(names))
	for _, n := range names {
		ps := byTier[n]
		slices.SortFunc(ps, func(a, b *compiledPolicy) int {
			return cmp.Or(cmp.Compare(a.order, b.order), cmp.Compare(a.id.Name, b.id.Name), cmp.Compare(a.id.Namespace, b.id.Namespace))
		})
		out = append(out, ps)
	}
	return out
}

// HostEndpointFor returns the host endpoint felix applies on a node's interface: the one
// naming the interface, else the node's all-interfaces ("*") one, else one without an
// interface whose expected IPs hold addr. Nil when none does.
func (m *Model) HostEndpointFor(node, iface string, addr netip.Addr) *Endpoint {
	var star, byIP *crd.HostEndpoint
	for _, h := range m.heps {
		if h.Spec.Node != node {
			continue
		}
		switch h.Spec.InterfaceName {
		case iface:
			if iface != "" {
				return HostEndpointOf(h)
			}
		case "*":
			star = h
		case "":
			if addr.IsValid() && containsAddr(m.hepNets[h], addr) {
				byIP = h
			}
		}
	}
	switch {
	case star != nil:
		return HostEndpointOf(star)
	case byIP != nil:
		return HostEndpointOf(byIP)
	}
	return nil
}

// HostEndpointsOn returns the host endpoints of a node.
func (m *Model) HostEndpointsOn(node string) []*Endpoint {
	var out []*Endpoint
	for _, h := range m.heps {
		if h.Spec.Node == node {
			out = append(out, HostEndpointOf(h))
		}
	}
	return out
}

// entitiesAt returns what owns ip for a rule's selector: the pods holding it, the host
// endpoints expecting it, and the network sets whose nets hold it.
func (m *Model) entitiesAt(ip netip.Addr) []entity {
	var out []entity
	for _, pod := range m.snap.PodsByIP(ip) {
		if pod.Spec.HostNetwork {
			continue
		}
		ep := WorkloadEndpoint(pod, m.snap.Namespace(pod.Namespace))
		out = append(out, entity{labels: ep.Labels, namespaced: true, ports: ep.ports})
	}
	for _, h := range m.heps {
		if containsAddr(m.hepNets[h], ip) {
			ep := HostEndpointOf(h)
			out = append(out, entity{labels: ep.Labels, ports: ep.ports})
		}
	}
	for _, s := range m.sets {
		if containsAddr(s.nets, ip) {
			out = append(out, s.entity)
		}
	}
	return out
}
