package diagnose

import (
	"maps"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/service"
)

// CollectPlan says which nodes a diagnosis needs the state of, and which pods' namespaces on
// each.
type CollectPlan struct {
	// Pods holds, by node name, the pods whose namespaces to collect there; a node with no
	// pods is still collected for its own state.
	Pods map[string][]netstack.PodRef
	// Samples say, for each service the packet may meet, which of its endpoints and entry
	// nodes are followed, of how many.
	Samples service.Samples
}

// Nodes returns the node names in order.
func (p CollectPlan) Nodes() []string { return slices.Sorted(maps.Keys(p.Pods)) }

// Plan is PlanBounded with the default bound on a service's nodes.
func Plan(snap *cluster.Snapshot, q model.Question) CollectPlan {
	return PlanBounded(snap, q, service.DefaultMaxNodes)
}

// PlanBounded picks the nodes the packet may cross: the source's and the destination's
// nodes, for a service the nodes of every endpoint kube-proxy may choose (beyond maxNodes
// of them, a deterministic spread that the answer reports), and for traffic from outside
// to a load-balancer or external IP the nodes it may enter by.
func PlanBounded(snap *cluster.Snapshot, q model.Question, maxNodes int) CollectPlan {
	plan := CollectPlan{Pods: map[string][]netstack.PodRef{}}
	addNode := func(node string) {
		if node == "" {
			return
		}
		if _, ok := plan.Pods[node]; !ok {
			plan.Pods[node] = nil
		}
	}
	addPod := func(namespace, name, node string, ip netip.Addr) {
		if node == "" {
			return
		}
		ref := netstack.PodRef{Namespace: namespace, Name: name, IP: ip}
		if !slices.Contains(plan.Pods[node], ref) {
			plan.Pods[node] = append(plan.Pods[node], ref)
		}
	}
	addService := func(svc *corev1.Service, entries bool) {
		smp := service.NewSample(snap, svc, maxNodes, q.Source.Node)
		if entries {
			smp.SetEntries(snap, svc, q.EntryNodes, maxNodes)
			for _, n := range smp.Entries {
				addNode(n)
			}
		}
		plan.Samples = append(plan.Samples, smp)
		for _, e := range service.UsableEndpoints(snap, svc.Namespace, svc.Name) {
			if !smp.Followed[e.IP] {
				continue
			}
			if e.Pod != nil && e.Pod.Kind == "Pod" {
				addPod(e.Pod.Namespace, e.Pod.Name, e.Node, e.IP)
			} else {
				addNode(e.Node)
			}
		}
	}
	addEndpoint := func(ep model.Endpoint) {
		switch ep.Type {
		case model.EndpointPod:
			addPod(ep.Namespace, ep.Name, ep.Node, ep.IP)
		case model.EndpointNode:
			addNode(ep.Node)
		case model.EndpointService:
			svc := snap.Service(ep.Namespace, ep.Name)
			if t := snap.ExternalNameTarget(svc); t != nil {
				svc = t
			}
			if svc != nil {
				addService(svc, q.Source.Type == model.EndpointExternal && service.ExternalAddress(svc, ep.IP))
			}
		}
	}
	addEndpoint(q.Source)
	addEndpoint(q.Destination)
	if q.Destination.Type == model.EndpointNode {
		// A node's port may be a Service's NodePort: kube-proxy on that node sends the
		// packet on to the Service's endpoints, wherever they run.
		for _, svc := range nodePortServices(snap, q) {
			addService(svc, false)
		}
	}
	return plan
}

// nodePortServices returns the services that expose q's protocol and port as a NodePort.
func nodePortServices(snap *cluster.Snapshot, q model.Question) []*corev1.Service {
	if q.Port == 0 {
		return nil
	}
	var out []*corev1.Service
	for _, svc := range snap.ServicesByNodePort(int32(q.Port)) {
		for _, sp := range svc.Spec.Ports {
			proto := string(sp.Protocol)
			if proto == "" {
				proto = string(corev1.ProtocolTCP)
			}
			if sp.NodePort == int32(q.Port) && proto == string(q.Protocol) {
				out = append(out, svc)
				break
			}
		}
	}
	return out
}
