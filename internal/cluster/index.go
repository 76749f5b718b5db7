package cluster

import (
	"net/netip"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/model"
)

// index holds the lookups built once per snapshot.
type index struct {
	once     sync.Once
	pods     map[string]*corev1.Pod
	nodes    map[string]*corev1.Node
	services map[string]*corev1.Service
	ipCache  *IPCache
}

func key(namespace, name string) string { return namespace + "/" + name }

func (s *Snapshot) idx() *index {
	s.index.once.Do(func() {
		x := &s.index
		x.pods = make(map[string]*corev1.Pod, len(s.Pods))
		for i := range s.Pods {
			x.pods[key(s.Pods[i].Namespace, s.Pods[i].Name)] = &s.Pods[i]
		}
		x.nodes = make(map[string]*corev1.Node, len(s.Nodes))
		for i := range s.Nodes {
			x.nodes[s.Nodes[i].Name] = &s.Nodes[i]
		}
		x.services = make(map[string]*corev1.Service, len(s.Services))
		for i := range s.Services {
			x.services[key(s.Services[i].Namespace, s.Services[i].Name)] = &s.Services[i]
		}
		x.ipCache = newIPCache(s)
	})
	return &s.index
}

// Pod returns the named pod, or nil.
func (s *Snapshot) Pod(namespace, name string) *corev1.Pod { return s.idx().pods[key(namespace, name)] }

// Node returns the named node, or nil.
func (s *Snapshot) Node(name string) *corev1.Node { return s.idx().nodes[name] }

// Service returns the named service, or nil.
func (s *Snapshot) Service(namespace, name string) *corev1.Service {
	return s.idx().services[key(namespace, name)]
}

// IPCache returns the snapshot's address owners.
func (s *Snapshot) IPCache() *IPCache { return s.idx().ipCache }

// IPCache maps an address to the pod, node or service that owns it. Host-network pods share
// their node's address and resolve to the node.
type IPCache struct {
	owners map[netip.Addr]model.Endpoint
}

func newIPCache(s *Snapshot) *IPCache {
	c := &IPCache{owners: map[netip.Addr]model.Endpoint{}}
	for i := range s.Nodes {
		n := &s.Nodes[i]
		for _, a := range n.Status.Addresses {
			if ip, err := netip.ParseAddr(a.Address); err == nil {
				c.owners[ip.Unmap()] = model.Endpoint{Type: model.EndpointNode, Name: n.Name, Node: n.Name, IP: ip.Unmap()}
			}
		}
	}
	for i := range s.Pods {
		p := &s.Pods[i]
		if p.Spec.HostNetwork || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, pip := range p.Status.PodIPs {
			if ip, err := netip.ParseAddr(pip.IP); err == nil {
				c.owners[ip.Unmap()] = model.Endpoint{Type: model.EndpointPod, Namespace: p.Namespace, Name: p.Name, Node: p.Spec.NodeName, IP: ip.Unmap()}
			}
		}
	}
	for i := range s.Services {
		svc := &s.Services[i]
		for _, cip := range svc.Spec.ClusterIPs {
			if ip, err := netip.ParseAddr(cip); err == nil {
				c.owners[ip.Unmap()] = model.Endpoint{Type: model.EndpointService, Namespace: svc.Namespace, Name: svc.Name, IP: ip.Unmap()}
			}
		}
	}
	return c
}

// Lookup returns the owner of ip.
func (c *IPCache) Lookup(ip netip.Addr) (model.Endpoint, bool) {
	ep, ok := c.owners[ip.Unmap()]
	return ep, ok
}
