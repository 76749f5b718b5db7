package cluster

import (
	"errors"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/model"
)

// ErrNotFound is wrapped by Resolve when the named object does not exist.
var ErrNotFound = errors.New("not found")

// EndpointRef is an endpoint as a user names it, before it is resolved.
type EndpointRef struct {
	Type      model.EndpointType
	Namespace string
	Name      string
	IP        netip.Addr
}

func (r EndpointRef) String() string {
	switch r.Type {
	case model.EndpointPod:
		return "pod " + r.Namespace + "/" + r.Name
	case model.EndpointService:
		return "service " + r.Namespace + "/" + r.Name
	case model.EndpointNode:
		return "node " + r.Name
	}
	return "ip " + r.IP.String()
}

// Resolve finds the object a reference names and returns it as an endpoint with its
// address. An address is resolved to the pod, node or service that owns it, so that
// "ip: 10.96.0.10" is diagnosed as the Service it is.
func (s *Snapshot) Resolve(ref EndpointRef) (model.Endpoint, error) {
	switch ref.Type {
	case model.EndpointPod:
		pod := s.Pod(ref.Namespace, ref.Name)
		if pod == nil {
			return model.Endpoint{}, fmt.Errorf("pod %s/%s: %w", ref.Namespace, ref.Name, ErrNotFound)
		}
		return podEndpoint(pod)
	case model.EndpointNode:
		node := s.Node(ref.Name)
		if node == nil {
			return model.Endpoint{}, fmt.Errorf("node %s: %w", ref.Name, ErrNotFound)
		}
		return nodeEndpoint(node)
	case model.EndpointService:
		svc := s.Service(ref.Namespace, ref.Name)
		if svc == nil {
			return model.Endpoint{}, fmt.Errorf("service %s/%s: %w", ref.Namespace, ref.Name, ErrNotFound)
		}
		return s.serviceEndpoint(svc)
	}
	if !ref.IP.IsValid() {
		return model.Endpoint{}, fmt.Errorf("endpoint names no pod, node, service or valid ip")
	}
	if owner, ok := s.IPCache().Lookup(ref.IP); ok {
		ep := owner
		ep.IP = ref.IP
		return ep, nil
	}
	return model.Endpoint{Type: model.EndpointExternal, IP: ref.IP}, nil
}

func podEndpoint(pod *corev1.Pod) (model.Endpoint, error) {
	ip, err := netip.ParseAddr(pod.Status.PodIP)
	if err != nil {
		return model.Endpoint{}, fmt.Errorf("pod %s/%s has no IP yet (phase %s)", pod.Namespace, pod.Name, pod.Status.Phase)
	}
	if pod.Spec.NodeName == "" {
		return model.Endpoint{}, fmt.Errorf("pod %s/%s is not scheduled to a node", pod.Namespace, pod.Name)
	}
	return model.Endpoint{Type: model.EndpointPod, Namespace: pod.Namespace, Name: pod.Name, Node: pod.Spec.NodeName, IP: ip.Unmap()}, nil
}

func nodeEndpoint(node *corev1.Node) (model.Endpoint, error) {
	ip, ok := NodeInternalIP(node)
	if !ok {
		return model.Endpoint{}, fmt.Errorf("node %s has no InternalIP address", node.Name)
	}
	return model.Endpoint{Type: model.EndpointNode, Name: node.Name, Node: node.Name, IP: ip}, nil
}

func (s *Snapshot) serviceEndpoint(svc *corev1.Service) (model.Endpoint, error) {
	ep := model.Endpoint{Type: model.EndpointService, Namespace: svc.Namespace, Name: svc.Name}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		// A DNS alias: followed to the cluster service it names, under its own name.
		target := s.ExternalNameTarget(svc)
		if target == nil {
			return model.Endpoint{}, fmt.Errorf("service %s/%s is an ExternalName, a DNS alias of %q with no address of its own: ask about the address that name resolves to", svc.Namespace, svc.Name, svc.Spec.ExternalName)
		}
		svc = target
	}
	if Headless(svc) {
		// The destination is the set of its ready pods: the address stays unset, and the
		// engine follows each pod as a branch.
		return ep, nil
	}
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil {
		return model.Endpoint{}, fmt.Errorf("service %s/%s has no cluster IP yet", svc.Namespace, svc.Name)
	}
	ep.IP = ip.Unmap()
	return ep, nil
}

// NodeInternalIP returns the node's first InternalIP address.
func NodeInternalIP(node *corev1.Node) (netip.Addr, bool) {
	for _, a := range node.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil {
			return ip.Unmap(), true
		}
	}
	return netip.Addr{}, false
}
