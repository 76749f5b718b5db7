package calico

import (
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/policy/calico/crd"
	"github.com/netdiag/netdiag/internal/policy/calico/selector"
)

// Labels Calico adds to what policies select, and the prefixes of the labels an endpoint
// inherits from its namespace's and service account's profiles (libcalico-go's
// conversion), which namespaceSelector and serviceAccountSelector match after the same
// prefix is put on their label names.
const (
	LabelNamespace      = "projectcalico.org/namespace"
	LabelOrchestrator   = "projectcalico.org/orchestrator"
	LabelServiceAccount = "projectcalico.org/serviceaccount"
	LabelName           = "projectcalico.org/name"
	OrchestratorK8s     = "k8s"
	prefixNamespace     = "pcns."
	prefixSA            = "pcsa."
	profileNamespace    = "kns."
	profileSA           = "ksa."
	// ProfileDefaultAllow is the profile Calico gives automatic host endpoints.
	ProfileDefaultAllow = "projectcalico-default-allow"
)

// EndpointKind tells a pod's workload endpoint from a node's host endpoint.
type EndpointKind string

const (
	Workload EndpointKind = "workload"
	Host     EndpointKind = "host"
)

// Endpoint is where felix applies policy: a pod's interface or a host endpoint.
type Endpoint struct {
	Kind      EndpointKind
	Namespace string
	// Name is the pod's name, or the HostEndpoint's.
	Name string
	Node string
	// Interface is the host endpoint's interface ("*" for all of the node's).
	Interface string
	// Labels are what selectors see: the object's labels with Calico's own and the
	// profiles' inherited ones.
	Labels   selector.Labels
	Profiles []string

	ports []namedPort
}

// String names the endpoint as a person reads it.
func (e *Endpoint) String() string {
	if e.Kind == Host {
		return "host endpoint " + e.Name + " (" + e.Node + " " + e.Interface + ")"
	}
	return "pod " + e.Namespace + "/" + e.Name
}

type namedPort struct {
	name     string
	protocol int
	port     uint16
}

// WorkloadEndpoint is the pod as felix sees it, with its namespace's labels (ns may be
// nil when the snapshot lacks the Namespace).
func WorkloadEndpoint(pod *corev1.Pod, ns *corev1.Namespace) *Endpoint {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	l := selector.Labels{}
	for k, v := range pod.Labels {
		l[k] = v
	}
	l[LabelNamespace] = pod.Namespace
	l[LabelOrchestrator] = OrchestratorK8s
	l[LabelServiceAccount] = sa
	addNamespaceLabels(l, pod.Namespace, ns)
	l[prefixSA+LabelName] = sa
	ep := &Endpoint{Kind: Workload, Namespace: pod.Namespace, Name: pod.Name, Node: pod.Spec.NodeName, Labels: l,
		Profiles: []string{profileNamespace + pod.Namespace, profileSA + pod.Namespace + "." + sa}}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name != "" {
				ep.ports = append(ep.ports, namedPort{name: p.Name, protocol: protocolNumber(string(orTCP(p.Protocol))), port: uint16(p.ContainerPort)})
			}
		}
	}
	return ep
}

func orTCP(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// addNamespaceLabels adds what the kns.<ns> profile gives: the namespace's labels under
// pcns. and its name.
func addNamespaceLabels(l selector.Labels, name string, ns *corev1.Namespace) {
	if ns != nil {
		for k, v := range ns.Labels {
			l[prefixNamespace+k] = v
		}
	}
	l[prefixNamespace+LabelName] = name
}

// HostEndpointOf is a HostEndpoint as felix sees it.
func HostEndpointOf(h *crd.HostEndpoint) *Endpoint {
	l := selector.Labels{}
	for k, v := range h.Labels {
		l[k] = v
	}
	ep := &Endpoint{Kind: Host, Name: h.Name, Node: h.Spec.Node, Interface: h.Spec.InterfaceName, Labels: l, Profiles: h.Spec.Profiles}
	for _, p := range h.Spec.Ports {
		ep.ports = append(ep.ports, namedPort{name: p.Name, protocol: protocolNumber(p.Protocol.String()), port: p.Port})
	}
	return ep
}

// entity is what owns an address for a rule's selector: a workload or host endpoint, or a
// network set whose nets hold the address.
type entity struct {
	labels     selector.Labels
	namespaced bool
	ports      []namedPort
}

func protocolNumber(p string) int {
	switch strings.ToUpper(p) {
	case "TCP":
		return 6
	case "UDP":
		return 17
	case "ICMP":
		return 1
	case "ICMPV6":
		return 58
	case "SCTP":
		return 132
	case "UDPLITE":
		return 136
	}
	if n, err := strconv.Atoi(p); err == nil && n >= 0 && n <= 255 {
		return n
	}
	return -1
}

// parseNets parses CIDRs (or single addresses, as Calico accepts); those that do not parse
// are returned apart.
func parseNets(in []string) (nets []netip.Prefix, bad []string) {
	for _, s := range in {
		if p, err := netip.ParsePrefix(s); err == nil {
			nets = append(nets, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil {
			nets = append(nets, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		bad = append(bad, s)
	}
	return nets, bad
}

func containsAddr(nets []netip.Prefix, ip netip.Addr) bool {
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}
