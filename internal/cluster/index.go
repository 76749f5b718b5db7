package cluster

import (
	"net/netip"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/netdiag/netdiag/internal/model"
)

// memIndex answers Objects from the snapshot's own lists. Each table is built the first time
// it is asked, so a diagnosis pays only for the lookups it makes.
type memIndex struct {
	pods, podsByIP, podsIn, podsOn     table[corev1.Pod, *corev1.Pod]
	nodes, nodesByIP                   table[corev1.Node, *corev1.Node]
	services, servicesByIP, byNodePort table[corev1.Service, *corev1.Service]
	slices                             table[discoveryv1.EndpointSlice, *discoveryv1.EndpointSlice]
	policies                           table[networkingv1.NetworkPolicy, *networkingv1.NetworkPolicy]
	namespaces                         table[corev1.Namespace, *corev1.Namespace]
}

// table is one map over one of the snapshot's lists, rebuilt when the list is replaced or
// grows (tests add objects to a snapshot they already diagnosed).
type table[T any, P interface {
	*T
	metav1.Object
}] struct {
	mu   sync.Mutex
	base *T
	n    int
	m    map[string][]P
}

func (t *table[T, P]) get(items []T, keys func(P) []string, k string) []P {
	t.mu.Lock()
	defer t.mu.Unlock()
	var base *T
	if len(items) > 0 {
		base = &items[0]
	}
	if t.m == nil || t.base != base || t.n != len(items) {
		t.m = make(map[string][]P, len(items))
		for i := range items {
			p := P(&items[i])
			for _, key := range keys(p) {
				t.m[key] = append(t.m[key], p)
			}
		}
		for _, v := range t.m {
			SortByName(v)
		}
		t.base, t.n = base, len(items)
	}
	return t.m[k]
}

func first[P any](ps []P) P {
	if len(ps) == 0 {
		var zero P
		return zero
	}
	return ps[0]
}

func key(namespace, name string) string { return namespace + "/" + name }

func byKey[P metav1.Object](o P) []string { return []string{key(o.GetNamespace(), o.GetName())} }

func byNamespace[P metav1.Object](o P) []string { return []string{o.GetNamespace()} }

func sliceKey(es *discoveryv1.EndpointSlice) []string {
	if name := EndpointSliceService(es); name != nil {
		return []string{key(es.Namespace, name[0])}
	}
	return nil
}

// source is where the snapshot's lookups go: the source it was built on, else its lists.
func (s *Snapshot) source() Objects {
	if s.objects != nil {
		return s.objects
	}
	return (*memSnapshot)(s)
}

// memSnapshot is a snapshot seen as Objects over its own lists.
type memSnapshot Snapshot

func (m *memSnapshot) Pod(namespace, name string) *corev1.Pod {
	return first(m.mem.pods.get(m.Pods, byKey, key(namespace, name)))
}

func (m *memSnapshot) Node(name string) *corev1.Node {
	return first(m.mem.nodes.get(m.Nodes, byKey, key("", name)))
}

func (m *memSnapshot) Service(namespace, name string) *corev1.Service {
	return first(m.mem.services.get(m.Services, byKey, key(namespace, name)))
}

func (m *memSnapshot) Namespace(name string) *corev1.Namespace {
	return first(m.mem.namespaces.get(m.Namespaces, byKey, key("", name)))
}

func (m *memSnapshot) PodsByIP(ip netip.Addr) []*corev1.Pod {
	return m.mem.podsByIP.get(m.Pods, PodAddresses, AddressKey(ip))
}

func (m *memSnapshot) PodsSelected(namespace string, selector map[string]string) []*corev1.Pod {
	var out []*corev1.Pod
	sel := labels.SelectorFromSet(selector)
	for _, p := range m.mem.podsIn.get(m.Pods, byNamespace, namespace) {
		if sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out
}

func (m *memSnapshot) PodsOn(node string) []*corev1.Pod {
	return m.mem.podsOn.get(m.Pods, PodNode, node)
}

func (m *memSnapshot) NodesByIP(ip netip.Addr) []*corev1.Node {
	return m.mem.nodesByIP.get(m.Nodes, NodeAddresses, AddressKey(ip))
}

func (m *memSnapshot) ServicesByIP(ip netip.Addr) []*corev1.Service {
	return m.mem.servicesByIP.get(m.Services, ServiceAddresses, AddressKey(ip))
}

func (m *memSnapshot) ServicesByNodePort(port int32) []*corev1.Service {
	return m.mem.byNodePort.get(m.Services, ServiceNodePorts, strconv.Itoa(int(port)))
}

func (m *memSnapshot) EndpointSlicesOf(namespace, service string) []*discoveryv1.EndpointSlice {
	return m.mem.slices.get(m.EndpointSlices, sliceKey, key(namespace, service))
}

func (m *memSnapshot) NetworkPoliciesIn(namespace string) []*networkingv1.NetworkPolicy {
	return m.mem.policies.get(m.NetworkPolicies, byNamespace, namespace)
}

func (m *memSnapshot) HasNetworkPolicies() bool { return len(m.NetworkPolicies) > 0 }

// Pod returns the named pod, or nil.
func (s *Snapshot) Pod(namespace, name string) *corev1.Pod { return s.source().Pod(namespace, name) }

// Node returns the named node, or nil.
func (s *Snapshot) Node(name string) *corev1.Node { return s.source().Node(name) }

// Service returns the named service, or nil.
func (s *Snapshot) Service(namespace, name string) *corev1.Service {
	return s.source().Service(namespace, name)
}

// Namespace returns the named namespace, or nil.
func (s *Snapshot) Namespace(name string) *corev1.Namespace { return s.source().Namespace(name) }

// PodsByIP returns the pods that own ip (PodAddresses).
func (s *Snapshot) PodsByIP(ip netip.Addr) []*corev1.Pod { return s.source().PodsByIP(ip) }

// PodsSelected returns the pods of a namespace that carry every label of selector.
func (s *Snapshot) PodsSelected(namespace string, selector map[string]string) []*corev1.Pod {
	return s.source().PodsSelected(namespace, selector)
}

// PodsOn returns the pods scheduled to a node.
func (s *Snapshot) PodsOn(node string) []*corev1.Pod { return s.source().PodsOn(node) }

// NodesByIP returns the nodes that carry ip among their addresses.
func (s *Snapshot) NodesByIP(ip netip.Addr) []*corev1.Node { return s.source().NodesByIP(ip) }

// ServicesByIP returns the services reachable at ip: cluster, external or load-balancer IP.
func (s *Snapshot) ServicesByIP(ip netip.Addr) []*corev1.Service {
	return s.source().ServicesByIP(ip)
}

// ServicesByNodePort returns the services with a port exposed as node port.
func (s *Snapshot) ServicesByNodePort(port int32) []*corev1.Service {
	return s.source().ServicesByNodePort(port)
}

// EndpointSlicesOf returns the EndpointSlices of a service, by name.
func (s *Snapshot) EndpointSlicesOf(namespace, service string) []*discoveryv1.EndpointSlice {
	return s.source().EndpointSlicesOf(namespace, service)
}

// NetworkPoliciesIn returns the NetworkPolicies of a namespace, by name.
func (s *Snapshot) NetworkPoliciesIn(namespace string) []*networkingv1.NetworkPolicy {
	return s.source().NetworkPoliciesIn(namespace)
}

// HasNetworkPolicies reports whether the cluster has any NetworkPolicy. A source is asked
// once per snapshot: the engine asks at every hop.
func (s *Snapshot) HasNetworkPolicies() bool {
	if s.objects == nil {
		return len(s.NetworkPolicies) > 0
	}
	s.hasPolicies.once.Do(func() { s.hasPolicies.v = s.objects.HasNetworkPolicies() })
	return s.hasPolicies.v
}

// IPCache returns the snapshot's address owners.
func (s *Snapshot) IPCache() *IPCache { return &IPCache{objs: s} }

// IPCache maps an address to the pod, node or service that owns it. A service's cluster IP
// comes before a pod's address, a pod's before a node's, a node's before a service's
// external or load-balancer IP; host-network pods share their node's address and resolve
// to the node.
type IPCache struct {
	objs Objects
}

// Lookup returns the owner of ip.
func (c *IPCache) Lookup(ip netip.Addr) (model.Endpoint, bool) {
	ip = ip.Unmap()
	for _, svc := range c.objs.ServicesByIP(ip) {
		for _, cip := range svc.Spec.ClusterIPs {
			if a, err := netip.ParseAddr(cip); err == nil && a.Unmap() == ip {
				return model.Endpoint{Type: model.EndpointService, Namespace: svc.Namespace, Name: svc.Name, IP: ip}, true
			}
		}
	}
	if p := first(c.objs.PodsByIP(ip)); p != nil {
		return model.Endpoint{Type: model.EndpointPod, Namespace: p.Namespace, Name: p.Name, Node: p.Spec.NodeName, IP: ip}, true
	}
	if n := first(c.objs.NodesByIP(ip)); n != nil {
		return model.Endpoint{Type: model.EndpointNode, Name: n.Name, Node: n.Name, IP: ip}, true
	}
	// An external or load-balancer IP no pod or node owns is the service's way in from
	// outside.
	if svc := first(c.objs.ServicesByIP(ip)); svc != nil {
		return model.Endpoint{Type: model.EndpointService, Namespace: svc.Namespace, Name: svc.Name, IP: ip}, true
	}
	return model.Endpoint{}, false
}
