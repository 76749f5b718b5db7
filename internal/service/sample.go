package service

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
)

// DefaultMaxNodes is how many nodes hosting a service's endpoints a diagnosis collects
// unless told otherwise: enough for every endpoint of most Deployments, few enough that a
// diagnosis of a service spread over a large cluster still starts a bounded number of
// collectors.
const DefaultMaxNodes = 64

// MaxFollowed bounds the endpoints of one service a diagnosis follows, whatever the nodes:
// each is a branch of the walk.
const MaxFollowed = 128

// Sample is the part of one service a diagnosis follows: every ready endpoint when the
// service fits the bounds, else a deterministic spread over the nodes that host them. It
// also holds the nodes that traffic from outside enters by, for an address outside the
// cluster's own (a load-balancer or external IP).
type Sample struct {
	Namespace, Name string
	// Endpoints and Nodes count the usable endpoints (ready, else serving and terminating,
	// as kube-proxy picks them) and the nodes that host them.
	Endpoints, Nodes int
	// Followed are the endpoints' addresses the diagnosis follows; FollowedNodes the nodes
	// that host them, in order.
	Followed      map[netip.Addr]bool
	FollowedNodes []string
	// Entries are the nodes traffic from outside is sent to, in order; Passed are the nodes
	// left out as entries because a load balancer's health check would leave them out
	// (externalTrafficPolicy Local without a local endpoint).
	Entries, Passed []string
	// EntriesOf is the number of nodes that could be entries before the bound.
	EntriesOf int

	all map[netip.Addr]bool
}

// Complete reports whether every endpoint is followed.
func (s *Sample) Complete() bool { return s == nil || len(s.Followed) == s.Endpoints }

// Skips reports whether ip is an endpoint of the service that the diagnosis does not follow.
func (s *Sample) Skips(ip netip.Addr) bool {
	if s == nil || s.Complete() {
		return false
	}
	_, listed := s.all[ip]
	return listed && !s.Followed[ip]
}

// Samples are the samples of one diagnosis (the destination's service; the services a node
// port exposes).
type Samples []*Sample

// Skips reports whether ip is an endpoint that one of the samples does not follow.
func (ss Samples) Skips(ip netip.Addr) bool {
	return slices.ContainsFunc(ss, func(s *Sample) bool { return s.Skips(ip) })
}

// UsableEndpoint is one endpoint a sample counts: its address and where it runs.
type UsableEndpoint struct {
	IP   netip.Addr
	Node string
	// Pod is the pod the EndpointSlice names or, for a slice written by hand (a Service
	// without a selector), the pod that holds the address; nil for an address no pod owns.
	Pod *corev1.ObjectReference
}

// UsableEndpoints returns the endpoints of a service kube-proxy may send to, each address
// once and in order: the ready ones, else the serving and terminating ones (kube-proxy's
// fallback while a rollout replaces every pod).
func UsableEndpoints(snap *cluster.Snapshot, namespace, name string) []UsableEndpoint {
	var ready, terminating []UsableEndpoint
	seen := map[netip.Addr]bool{}
	for _, es := range snap.EndpointSlicesOf(namespace, name) {
		for _, e := range es.Endpoints {
			if len(e.Addresses) == 0 {
				continue
			}
			ip := parseAddr(e.Addresses[0])
			if !ip.IsValid() || seen[ip] {
				continue
			}
			c := e.Conditions
			isReady := c.Ready == nil || *c.Ready
			serving := c.Serving == nil || *c.Serving
			term := c.Terminating != nil && *c.Terminating
			if !isReady && !(serving && term) {
				continue
			}
			seen[ip] = true
			u := UsableEndpoint{IP: ip, Pod: e.TargetRef}
			if e.NodeName != nil {
				u.Node = *e.NodeName
			} else if e.TargetRef != nil && e.TargetRef.Kind == "Pod" {
				if pod := snap.Pod(e.TargetRef.Namespace, e.TargetRef.Name); pod != nil {
					u.Node = pod.Spec.NodeName
				}
			} else if owner, ok := snap.IPCache().Lookup(ip); ok && (owner.Type == model.EndpointPod || owner.Type == model.EndpointNode) {
				// A hand-made EndpointSlice names an address alone; a pod or node of the
				// cluster may hold it all the same.
				u.Node = owner.Node
				if owner.Type == model.EndpointPod {
					u.Pod = &corev1.ObjectReference{Kind: "Pod", Namespace: owner.Namespace, Name: owner.Name}
				}
			}
			if isReady {
				ready = append(ready, u)
			} else {
				terminating = append(terminating, u)
			}
		}
	}
	out := ready
	if len(out) == 0 {
		out = terminating
	}
	slices.SortFunc(out, func(a, b UsableEndpoint) int { return a.IP.Compare(b.IP) })
	return out
}

// NewSample picks what a diagnosis follows of a service: every usable endpoint on up to
// maxNodes nodes (zero is DefaultMaxNodes), the nodes in prefer first (the source's node,
// where internalTrafficPolicy Local and hairpin traffic stay) and the rest spread evenly
// over the others in name order, so that the same cluster always gives the same sample.
func NewSample(snap *cluster.Snapshot, svc *corev1.Service, maxNodes int, prefer ...string) *Sample {
	if maxNodes <= 0 {
		maxNodes = DefaultMaxNodes
	}
	eps := UsableEndpoints(snap, svc.Namespace, svc.Name)
	s := &Sample{Namespace: svc.Namespace, Name: svc.Name, Endpoints: len(eps), Followed: map[netip.Addr]bool{}, all: map[netip.Addr]bool{}}
	byNode := map[string][]UsableEndpoint{}
	var nodes []string
	for _, e := range eps {
		s.all[e.IP] = true
		if e.Node == "" {
			// An address on no node costs no collector: it is always followed.
			s.Followed[e.IP] = true
			continue
		}
		if _, ok := byNode[e.Node]; !ok {
			nodes = append(nodes, e.Node)
		}
		byNode[e.Node] = append(byNode[e.Node], e)
	}
	slices.Sort(nodes)
	s.Nodes = len(nodes)
	s.FollowedNodes = Spread(nodes, maxNodes, prefer...)
	// The endpoints of the chosen nodes, a node at a time so that a bound on branches
	// still leaves every chosen node at least one.
	for round := 0; len(s.Followed) < MaxFollowed; round++ {
		added := false
		for _, n := range s.FollowedNodes {
			if round < len(byNode[n]) && len(s.Followed) < MaxFollowed {
				s.Followed[byNode[n][round].IP] = true
				added = true
			}
		}
		if !added {
			break
		}
	}
	return s
}

// Spread picks up to max of items (sorted): those in prefer first, then the others evenly
// spaced, in order.
func Spread(items []string, max int, prefer ...string) []string {
	if len(items) <= max {
		return slices.Clone(items)
	}
	var out []string
	for _, p := range prefer {
		if slices.Contains(items, p) && !slices.Contains(out, p) && len(out) < max {
			out = append(out, p)
		}
	}
	rest := slices.DeleteFunc(slices.Clone(items), func(s string) bool { return slices.Contains(out, s) })
	if n := max - len(out); n > 0 {
		for i := range n {
			out = append(out, rest[i*len(rest)/n])
		}
	}
	slices.Sort(out)
	return out
}

// SetEntries chooses the nodes traffic from outside enters by on its way to one of the
// service's addresses outside the cluster's (a load-balancer or external IP): the named
// ones when the question names them, else every node, or for externalTrafficPolicy Local
// the nodes with a local endpoint (the ones a load balancer's health check keeps; the
// others are Passed). At most maxNodes are followed, spread as NewSample spreads.
func (s *Sample) SetEntries(snap *cluster.Snapshot, svc *corev1.Service, named []string, maxNodes int) {
	if maxNodes <= 0 {
		maxNodes = DefaultMaxNodes
	}
	if len(named) > 0 {
		s.Entries = slices.Sorted(slices.Values(named))
		s.EntriesOf = len(s.Entries)
		return
	}
	var all []string
	for i := range snap.Nodes {
		all = append(all, snap.Nodes[i].Name)
	}
	slices.Sort(all)
	candidates := all
	if svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		hosts := map[string]bool{}
		for _, e := range UsableEndpoints(snap, svc.Namespace, svc.Name) {
			hosts[e.Node] = true
		}
		candidates = nil
		for _, n := range all {
			if hosts[n] {
				candidates = append(candidates, n)
			} else {
				s.Passed = append(s.Passed, n)
			}
		}
	}
	s.EntriesOf = len(candidates)
	if svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		// Each entry forks to every endpoint followed: the entries and the endpoints
		// together stay within the branches one walk follows.
		maxNodes = min(maxNodes, max(1, maxBranches/max(1, len(s.Followed))))
	}
	// Entries where endpoints run first: their nodes are collected anyway.
	s.Entries = Spread(candidates, maxNodes, s.FollowedNodes...)
}

// maxBranches is the walk's bound on the branches of one diagnosis (network.MaxBranches).
const maxBranches = 256

// ExternalAddress reports whether ip is one of the service's addresses outside the
// cluster's own network: an external IP or a load-balancer ingress IP, which a router
// outside sends to some node.
func ExternalAddress(svc *corev1.Service, ip netip.Addr) bool {
	k, ok := addressKind(svc, ip)
	return ok && (k == ExternalIP || k == LoadBalancerIP)
}

// nodeZone is the node's topology.kubernetes.io/zone label, which topology hints name.
func nodeZone(snap *cluster.Snapshot, node string) string {
	if n := snap.Node(node); n != nil {
		return n.Labels[corev1.LabelTopologyZone]
	}
	return ""
}
