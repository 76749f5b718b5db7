package diagnose

import (
	"maps"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

// CollectPlan says which nodes a diagnosis needs the state of, and which pods' namespaces on
// each.
type CollectPlan struct {
	// Pods holds, by node name, the pods whose namespaces to collect there; a node with no
	// pods is still collected for its own state.
	Pods map[string][]netstack.PodRef
}

// Nodes returns the node names in order.
func (p CollectPlan) Nodes() []string { return slices.Sorted(maps.Keys(p.Pods)) }

// Plan picks the nodes the packet may cross: the source's and the destination's nodes, and
// for a service the nodes of its endpoints (capped, since a path needs a sample, not every
// node of a large Deployment).
func Plan(snap *cluster.Snapshot, q model.Question) CollectPlan {
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
	addEndpoint := func(ep model.Endpoint) {
		switch ep.Type {
		case model.EndpointPod:
			addPod(ep.Namespace, ep.Name, ep.Node, ep.IP)
		case model.EndpointNode:
			addNode(ep.Node)
		case model.EndpointService:
			for _, pod := range serviceBackends(snap, ep.Namespace, ep.Name, MaxServiceBackends) {
				addPod(pod.Namespace, pod.Name, pod.Node, pod.IP)
			}
		}
	}
	addEndpoint(q.Source)
	addEndpoint(q.Destination)
	if q.Destination.Type == model.EndpointNode {
		// A node's port may be a Service's NodePort: kube-proxy on that node sends the
		// packet on to the Service's endpoints, wherever they run.
		for _, svc := range nodePortServices(snap, q) {
			for _, pod := range serviceBackends(snap, svc.Namespace, svc.Name, MaxServiceBackends) {
				addPod(pod.Namespace, pod.Name, pod.Node, pod.IP)
			}
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

// MaxServiceBackends bounds how many endpoints of one service a diagnosis follows.
const MaxServiceBackends = 8

// serviceBackends returns up to max ready endpoints of a service that are pods.
func serviceBackends(snap *cluster.Snapshot, namespace, name string, max int) []model.Endpoint {
	var out []model.Endpoint
	for _, es := range snap.EndpointSlicesOf(namespace, name) {
		for _, e := range es.Endpoints {
			if e.TargetRef == nil || e.TargetRef.Kind != "Pod" || len(e.Addresses) == 0 {
				continue
			}
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			ip, err := netip.ParseAddr(e.Addresses[0])
			if err != nil {
				continue
			}
			node := ""
			if e.NodeName != nil {
				node = *e.NodeName
			} else if pod := snap.Pod(e.TargetRef.Namespace, e.TargetRef.Name); pod != nil {
				node = pod.Spec.NodeName
			}
			out = append(out, model.Endpoint{Type: model.EndpointPod, Namespace: e.TargetRef.Namespace, Name: e.TargetRef.Name, Node: node, IP: ip.Unmap()})
			if len(out) == max {
				return out
			}
		}
	}
	return out
}
