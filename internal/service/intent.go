package service

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

// newResult finds the service and port the packet is addressed to, from the Service
// objects: a cluster IP, an external IP, a load-balancer ingress IP, or a node port on one
// of this node's own addresses.
func newResult(mode Mode, snap *cluster.Snapshot, a Arrival) *Result {
	res := &Result{Mode: mode}
	pkt := a.Packet
	proto := corev1.Protocol(pkt.Protocol)
	var byAddr *corev1.Service
	var kind AddressKind
	for _, svc := range snap.ServicesByIP(pkt.Dst) {
		k, ok := addressKind(svc, pkt.Dst)
		if !ok {
			continue
		}
		byAddr, kind = svc, k
		for j := range svc.Spec.Ports {
			p := &svc.Spec.Ports[j]
			if p.Protocol == proto && uint16(p.Port) == pkt.DstPort {
				res.Service, res.Port, res.Kind = svc, p, k
				return res
			}
		}
	}
	if pkt.Protocol != model.ICMP && isLocal(a.Stack, pkt.Dst) {
		for _, svc := range snap.ServicesByNodePort(int32(pkt.DstPort)) {
			for j := range svc.Spec.Ports {
				p := &svc.Spec.Ports[j]
				if p.NodePort != 0 && p.Protocol == proto && uint16(p.NodePort) == pkt.DstPort {
					res.Service, res.Port, res.Kind = svc, p, NodePort
					return res
				}
			}
		}
	}
	if byAddr != nil {
		res.Service, res.Kind = byAddr, kind
		res.Suspicions = append(res.Suspicions, model.Suspicion{
			Level: model.Critical, Reason: model.ReasonServicePortMissing, Node: a.Node,
			Message: fmt.Sprintf("%s %s has no port %s/%d; its ports are %s", serviceName(byAddr), pkt.Dst,
				pkt.Protocol, pkt.DstPort, portList(byAddr)),
		})
	}
	return res
}

// Addressed reports whether the arrival's packet is addressed to a service: a cluster IP, an
// external or load-balancer IP, or a node port of one of the node's own addresses. It is
// the cheap test a diagnosis makes at every node before asking for an explanation.
func Addressed(snap *cluster.Snapshot, a Arrival) bool {
	dst := a.Packet.Dst
	if ep, ok := snap.IPCache().Lookup(dst); ok {
		if ep.Type == model.EndpointService {
			return true
		}
		if ep.Type == model.EndpointPod {
			return false
		}
	}
	local := a.Packet.Protocol != model.ICMP && isLocal(a.Stack, dst)
	proto := corev1.Protocol(a.Packet.Protocol)
	for _, svc := range snap.ServicesByIP(dst) {
		if _, ok := addressKind(svc, dst); ok {
			return true
		}
	}
	if !local {
		return false
	}
	for _, svc := range snap.ServicesByNodePort(int32(a.Packet.DstPort)) {
		for _, p := range svc.Spec.Ports {
			if p.NodePort != 0 && p.Protocol == proto && uint16(p.NodePort) == a.Packet.DstPort {
				return true
			}
		}
	}
	return false
}

func addressKind(svc *corev1.Service, ip netip.Addr) (AddressKind, bool) {
	for _, s := range svc.Spec.ClusterIPs {
		if parseAddr(s) == ip {
			return ClusterIP, true
		}
	}
	if parseAddr(svc.Spec.ClusterIP) == ip {
		return ClusterIP, true
	}
	for _, s := range svc.Spec.ExternalIPs {
		if parseAddr(s) == ip {
			return ExternalIP, true
		}
	}
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, in := range svc.Status.LoadBalancer.Ingress {
			// An ingress in Proxy mode is the load balancer's own address: kube-proxy
			// writes no rule for it and the load balancer sends to node ports instead.
			if in.IPMode != nil && *in.IPMode == corev1.LoadBalancerIPModeProxy {
				continue
			}
			if parseAddr(in.IP) == ip {
				return LoadBalancerIP, true
			}
		}
	}
	return "", false
}

func parseAddr(s string) netip.Addr {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}

func serviceName(svc *corev1.Service) string {
	if svc == nil {
		return ""
	}
	return "Service " + svc.Namespace + "/" + svc.Name
}

// portName is kube-proxy's name for a service port: namespace/name, with ":port" when the
// port is named. Its chain names hash this string.
func portName(svc *corev1.Service, p *corev1.ServicePort) string {
	s := svc.Namespace + "/" + svc.Name
	if p.Name != "" {
		s += ":" + p.Name
	}
	return s
}

func portList(svc *corev1.Service) string {
	var parts []string
	for _, p := range svc.Spec.Ports {
		s := fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		if p.Name != "" {
			s += " (" + p.Name + ")"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// isLocal reports whether ip is one of the node's own addresses, as addrtype LOCAL sees it:
// an address on an interface, or inside a local route (all of 127.0.0.0/8 on lo, which a
// snapshot without its local table still has).
func isLocal(stack *netstack.Netstack, ip netip.Addr) bool {
	if stack == nil || !ip.IsValid() {
		return false
	}
	return stack.IsLocalAddr(ip) || ip.IsLoopback()
}

// sliceEndpoint is one endpoint of a service port as the EndpointSlices list it.
type sliceEndpoint struct {
	Addr                        netip.AddrPort
	Node                        string
	Ready, Serving, Terminating bool
	Pod                         *corev1.ObjectReference
	// ZoneHints and NodeHints are the topology hints the EndpointSlice controller wrote
	// for topology-aware routing and trafficDistribution.
	ZoneHints, NodeHints []string
}

// sliceEndpoints returns the endpoints the slices list for one service port, each once (by
// IP:port, as kube-proxy merges slices), and whether any slice lists the port at all.
func sliceEndpoints(snap *cluster.Snapshot, svc *corev1.Service, p *corev1.ServicePort) ([]sliceEndpoint, bool) {
	seen := map[netip.AddrPort]bool{}
	var out []sliceEndpoint
	portListed := false
	for _, es := range snap.EndpointSlicesOf(svc.Namespace, svc.Name) {
		if es.AddressType != discoveryv1.AddressTypeIPv4 && es.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		var port uint16
		for _, sp := range es.Ports {
			name := ""
			if sp.Name != nil {
				name = *sp.Name
			}
			proto := corev1.ProtocolTCP
			if sp.Protocol != nil {
				proto = *sp.Protocol
			}
			if name == p.Name && proto == p.Protocol && sp.Port != nil {
				port = uint16(*sp.Port)
			}
		}
		if port == 0 {
			continue
		}
		portListed = true
		for _, e := range es.Endpoints {
			if len(e.Addresses) == 0 {
				continue
			}
			ip := parseAddr(e.Addresses[0])
			if !ip.IsValid() {
				continue
			}
			ap := netip.AddrPortFrom(ip, port)
			if seen[ap] {
				continue
			}
			seen[ap] = true
			c := e.Conditions
			se := sliceEndpoint{
				Addr:        ap,
				Ready:       c.Ready == nil || *c.Ready,
				Serving:     c.Serving == nil || *c.Serving,
				Terminating: c.Terminating != nil && *c.Terminating,
				Pod:         e.TargetRef,
			}
			if e.NodeName != nil {
				se.Node = *e.NodeName
			}
			if h := e.Hints; h != nil {
				for _, z := range h.ForZones {
					se.ZoneHints = append(se.ZoneHints, z.Name)
				}
				for _, n := range h.ForNodes {
					se.NodeHints = append(se.NodeHints, n.Name)
				}
			}
			out = append(out, se)
		}
	}
	slices.SortFunc(out, func(a, b sliceEndpoint) int { return a.Addr.Compare(b.Addr) })
	return out, portListed
}

// usesLocal reports whether the packet's traffic policy is Local: externalTrafficPolicy for
// packets from outside to an external address (node port, external or load-balancer IP;
// kube-proxy short-circuits the host's and local pods' packets to the cluster endpoints),
// internalTrafficPolicy for the cluster IP.
func usesLocal(svc *corev1.Service, kind AddressKind, origin Origin) bool {
	if kind == ClusterIP {
		return svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal
	}
	return origin == FromOutside && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

// expected returns the endpoints kube-proxy on node must use for the packet, selected as
// kube-proxy selects them (pkg/proxy/topology.go CategorizeEndpoints): ready endpoints, else
// serving-and-terminating ones; for a Local policy only this node's, with the same fallback;
// for the Cluster policy only those the topology hints give the node (zone is its
// topology.kubernetes.io/zone label), when every ready endpoint has hints and one is for it.
// any says whether the service has usable endpoints anywhere.
func expected(all []sliceEndpoint, node, zone string, local bool) (eps []sliceEndpoint, any bool) {
	pick := func(f func(sliceEndpoint) bool) []sliceEndpoint {
		var out []sliceEndpoint
		for _, e := range all {
			if f(e) {
				out = append(out, e)
			}
		}
		return out
	}
	usable := func(e sliceEndpoint) bool { return e.Ready || (e.Serving && e.Terminating) }
	any = len(pick(usable)) > 0
	if local {
		eps = pick(func(e sliceEndpoint) bool { return e.Node == node && e.Ready })
		if len(eps) == 0 {
			eps = pick(func(e sliceEndpoint) bool { return e.Node == node && e.Serving && e.Terminating })
		}
		return eps, any
	}
	forTopology := topologyFilter(all, node, zone)
	eps = pick(func(e sliceEndpoint) bool { return e.Ready && forTopology(e) })
	if len(eps) == 0 {
		eps = pick(func(e sliceEndpoint) bool { return e.Serving && e.Terminating && forTopology(e) })
	}
	return eps, any
}

// topologyFilter is kube-proxy's topologyModeFromHints and availableForTopology: when every
// ready endpoint carries node hints and one is for this node, the node uses those
// (trafficDistribution PreferSameNode); else when every ready endpoint carries zone hints
// and one is for the node's zone, those (topology-aware routing, PreferClose and
// PreferSameZone); else all.
func topologyFilter(all []sliceEndpoint, node, zone string) func(sliceEndpoint) bool {
	allNode, allZone, forNode, forZone := true, true, false, false
	for _, e := range all {
		if !e.Ready {
			continue
		}
		if len(e.NodeHints) == 0 {
			allNode = false
		} else if slices.Contains(e.NodeHints, node) {
			forNode = true
		}
		if len(e.ZoneHints) == 0 {
			allZone = false
		} else if slices.Contains(e.ZoneHints, zone) {
			forZone = true
		}
	}
	switch {
	case allNode && forNode:
		return func(e sliceEndpoint) bool { return slices.Contains(e.NodeHints, node) }
	case allZone && forZone:
		return func(e sliceEndpoint) bool { return slices.Contains(e.ZoneHints, zone) }
	}
	return func(sliceEndpoint) bool { return true }
}

func addrPorts(eps []sliceEndpoint) []netip.AddrPort {
	out := make([]netip.AddrPort, 0, len(eps))
	for _, e := range eps {
		out = append(out, e.Addr)
	}
	return out
}

// endpointOwner resolves a translated destination to the pod, node or external address.
func endpointOwner(snap *cluster.Snapshot, ip netip.Addr) model.Endpoint {
	if ep, ok := snap.IPCache().Lookup(ip); ok {
		ep.IP = ip
		return ep
	}
	return model.Endpoint{Type: model.EndpointExternal, IP: ip}
}

// sortBranches orders branches by destination, then outcome, so results are stable.
func sortBranches(bs []Branch) {
	slices.SortStableFunc(bs, func(a, b Branch) int {
		return cmp.Or(a.Packet.Dst.Compare(b.Packet.Dst), cmp.Compare(a.Packet.DstPort, b.Packet.DstPort), cmp.Compare(a.Outcome, b.Outcome))
	})
}
