package cluster

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Objects are the lookups a diagnosis makes of the cluster's objects: each names the key the
// engine knows (a name, an address, a port, a namespace), so that a source holding a large
// cluster answers from an index instead of handing over every object. A Snapshot built from
// lists answers them from maps it builds itself; the controller's answers from its informer
// cache's indexes, which it builds with the key functions below, so both find the same
// objects.
//
// Every list comes in namespace/name order (SortByName), since the engine takes the first of
// several (the first backends of a service) and a cache has no order of its own. Returned
// objects are shared with the source and must not be changed.
type Objects interface {
	Pod(namespace, name string) *corev1.Pod
	Node(name string) *corev1.Node
	Service(namespace, name string) *corev1.Service
	Namespace(name string) *corev1.Namespace
	// PodsByIP returns the pods that own ip (PodAddresses).
	PodsByIP(ip netip.Addr) []*corev1.Pod
	// PodsSelected returns the pods of a namespace that carry every label of selector.
	PodsSelected(namespace string, selector map[string]string) []*corev1.Pod
	// PodsOn returns the pods scheduled to a node.
	PodsOn(node string) []*corev1.Pod
	// NodesByIP returns the nodes that carry ip among their addresses.
	NodesByIP(ip netip.Addr) []*corev1.Node
	// ServicesByIP returns the services reachable at ip (ServiceAddresses).
	ServicesByIP(ip netip.Addr) []*corev1.Service
	// ServicesByNodePort returns the services with a port exposed as node port.
	ServicesByNodePort(port int32) []*corev1.Service
	// EndpointSlicesOf returns the slices of a service (its service-name label).
	EndpointSlicesOf(namespace, service string) []*discoveryv1.EndpointSlice
	// NetworkPoliciesIn returns the policies of a namespace.
	NetworkPoliciesIn(namespace string) []*networkingv1.NetworkPolicy
	// HasNetworkPolicies reports whether the cluster has any NetworkPolicy.
	HasNetworkPolicies() bool
}

// The key functions say what each index holds. They are the one definition of the keys: the
// in-memory snapshot and the controller's cache index with them.

// AddressKey is the key an address is indexed by.
func AddressKey(ip netip.Addr) string { return ip.Unmap().String() }

// PodAddresses returns the addresses a pod owns: its pod IPs, unless it shares its node's
// network (the address is the node's) or has finished (its address may be another's now).
func PodAddresses(p *corev1.Pod) []string {
	if p.Spec.HostNetwork || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return nil
	}
	var out []string
	for _, pip := range p.Status.PodIPs {
		out = appendAddress(out, pip.IP)
	}
	return out
}

// NodeAddresses returns the addresses in a node's status.
func NodeAddresses(n *corev1.Node) []string {
	var out []string
	for _, a := range n.Status.Addresses {
		out = appendAddress(out, a.Address)
	}
	return out
}

// ServiceAddresses returns every address a packet reaches a service at: its cluster IPs,
// external IPs and load-balancer ingress IPs. The engine tells which kind each is.
func ServiceAddresses(svc *corev1.Service) []string {
	var out []string
	for _, s := range svc.Spec.ClusterIPs {
		out = appendAddress(out, s)
	}
	out = appendAddress(out, svc.Spec.ClusterIP)
	for _, s := range svc.Spec.ExternalIPs {
		out = appendAddress(out, s)
	}
	for _, in := range svc.Status.LoadBalancer.Ingress {
		out = appendAddress(out, in.IP)
	}
	return out
}

// ServiceNodePorts returns the node ports of a service's ports.
func ServiceNodePorts(svc *corev1.Service) []string {
	var out []string
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			out = appendOnce(out, strconv.Itoa(int(p.NodePort)))
		}
	}
	return out
}

// EndpointSliceService returns the name of the service a slice belongs to, in its namespace.
func EndpointSliceService(es *discoveryv1.EndpointSlice) []string {
	if name := es.Labels[discoveryv1.LabelServiceName]; name != "" {
		return []string{name}
	}
	return nil
}

// PodNode returns the node a pod is scheduled to.
func PodNode(p *corev1.Pod) []string {
	if p.Spec.NodeName != "" {
		return []string{p.Spec.NodeName}
	}
	return nil
}

func appendAddress(out []string, s string) []string {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return out
	}
	return appendOnce(out, AddressKey(ip))
}

func appendOnce(out []string, k string) []string {
	if slices.Contains(out, k) {
		return out
	}
	return append(out, k)
}

// SortByName orders objects by namespace, then name.
func SortByName[P metav1.Object](objs []P) {
	slices.SortFunc(objs, func(a, b P) int {
		return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
	})
}
