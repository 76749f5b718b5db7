package diagnose

import (
	"cmp"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/service"
)

// maxNamed bounds the failing branches a summary names; the suspicions name them all.
const maxNamed = 4

// serviceNotes says what a diagnosis of a service follows when it does not follow
// everything: a sample of a large service's endpoints, the entry nodes of traffic from
// outside.
func serviceNotes(snap *cluster.Snapshot, q model.Question, samples service.Samples) []model.Suspicion {
	var out []model.Suspicion
	for _, s := range samples {
		name := s.Namespace + "/" + s.Name
		if !s.Complete() {
			out = append(out, model.Suspicion{Level: model.Info, Reason: model.ReasonServiceEndpointsSampled,
				Message: fmt.Sprintf("Service %s has %d usable endpoints on %d nodes: the %d on %d nodes spread over them were followed, the others not checked",
					name, s.Endpoints, s.Nodes, len(s.Followed), len(s.FollowedNodes))})
		}
		if len(s.Entries) == 0 && len(s.Passed) == 0 {
			continue
		}
		how := "every node"
		switch {
		case len(q.EntryNodes) > 0:
			how = "the entry nodes the question names"
		case len(s.Passed) > 0:
			how = "the nodes with a local endpoint (externalTrafficPolicy Local)"
		}
		msg := fmt.Sprintf("Traffic from outside to %s (Service %s) enters by a node the router or load balancer picks; followed as entries: %s, %d of %d",
			q.Destination.IP, name, how, len(s.Entries), s.EntriesOf)
		if len(s.Entries) > 0 {
			msg += " (" + list(s.Entries) + ")"
		}
		if len(s.Passed) > 0 {
			msg += fmt.Sprintf("; left out, since a load balancer's health check fails on a node without a local endpoint: %s", list(s.Passed))
		}
		out = append(out, model.Suspicion{Level: model.Info, Reason: model.ReasonServiceEntryNodes, Message: msg})
	}
	return out
}

// sampled is what a summary adds when a sample decided which branches were followed.
func sampled(samples service.Samples) string {
	var parts []string
	for _, s := range samples {
		if !s.Complete() {
			parts = append(parts, fmt.Sprintf("checked %d of %d endpoints of Service %s/%s", len(s.Followed), s.Endpoints, s.Namespace, s.Name))
		}
		if s.EntriesOf > len(s.Entries) {
			parts = append(parts, fmt.Sprintf("entered by %d of %d nodes", len(s.Entries), s.EntriesOf))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// failing names the places where dropped branches end and why, the first few of them.
func failing(dropped []plugin.End, sus []model.Suspicion) string {
	var parts []string
	seen := map[string]bool{}
	for _, e := range dropped {
		if seen[e.NodeID] {
			continue
		}
		seen[e.NodeID] = true
		if len(parts) == maxNamed {
			parts = append(parts, "and more")
			break
		}
		where, why := blame(e, sus)
		parts = append(parts, fmt.Sprintf("at %s: %s", where, why))
	}
	return strings.Join(parts, "; ")
}

// partialSummary is a PartiallyReachable summary that names each failing branch by the
// endpoint it was sent to (the pod, when one owns the address), where it stops and why.
func partialSummary(snap *cluster.Snapshot, q model.Question, res *Result, delivered, total int) string {
	var parts []string
	n := 0
	for i, b := range Branches(res) {
		if b.End == string(plugin.Delivered) {
			continue
		}
		if n++; n > maxNamed {
			continue
		}
		to := cmp.Or(b.To, lastDestination(res.Path.Branches[i]))
		if ap, err := netip.ParseAddrPort(to); err == nil {
			if ep, ok := snap.IPCache().Lookup(ap.Addr()); ok && ep.Type == model.EndpointPod {
				to = fmt.Sprintf("pod/%s/%s (%s)", ep.Namespace, ep.Name, ap)
			}
		}
		p := "to " + cmp.Or(to, "?")
		if len(b.Forward) > 1 && strings.HasPrefix(b.Forward[0].At, "external/") {
			// From outside: the entry node the branch came in by.
			p = "entering by " + b.Forward[1].At + " " + p
		}
		if b.At != "" {
			p += " stops at " + b.At
		}
		if b.Why != "" {
			p += ": " + b.Why
		}
		parts = append(parts, p)
	}
	if n > maxNamed {
		parts = append(parts, fmt.Sprintf("and %d more", n-maxNamed))
	}
	why := ""
	for _, s := range res.Suspicions {
		if s.Level >= model.Critical {
			why = fmt.Sprintf(" (%s)", s.Reason)
			break
		}
	}
	return fmt.Sprintf("PartiallyReachable: %s arrives by %d of %d branches; %d fail%s: %s",
		describe(q), delivered, total, total-delivered, why, strings.Join(parts, "; "))
}

func list(names []string) string {
	const max = 8
	if len(names) > max {
		return strings.Join(names[:max], ", ") + fmt.Sprintf(" and %d more", len(names)-max)
	}
	return strings.Join(names, ", ")
}

// lastDestination is where a branch's packet was last addressed to, as IP:port: for a
// branch the service proxy stopped right after its translation, the endpoint it chose.
func lastDestination(b model.Branch) string {
	for i := len(b.Hops) - 1; i >= 0; i-- {
		if b.Hops[i].Reply {
			continue
		}
		steps := b.Hops[i].Steps
		for j := len(steps) - 1; j >= 0; j-- {
			if p := steps[j].Packet; p.Dst.IsValid() {
				return netip.AddrPortFrom(p.Dst, p.DstPort).String()
			}
		}
	}
	return ""
}

// headlessDestination returns the destination's service when it is headless and the
// question names it without an address.
func headlessDestination(in Input) *corev1.Service {
	dst := in.Question.Destination
	if in.Cluster == nil || dst.Type != model.EndpointService || dst.IP.IsValid() {
		return nil
	}
	svc := in.Cluster.Service(dst.Namespace, dst.Name)
	if t := in.Cluster.ExternalNameTarget(svc); t != nil {
		svc = t
	}
	if svc == nil || !cluster.Headless(svc) {
		return nil
	}
	return svc
}

// shapeNotes says what a destination service is when its shape changes what is followed: an
// ExternalName alias, a load balancer known by a hostname.
func shapeNotes(snap *cluster.Snapshot, q model.Question) []model.Suspicion {
	if q.Destination.Type != model.EndpointService {
		return nil
	}
	svc := snap.Service(q.Destination.Namespace, q.Destination.Name)
	if svc == nil {
		return nil
	}
	var out []model.Suspicion
	if t := snap.ExternalNameTarget(svc); t != nil {
		out = append(out, model.Suspicion{Level: model.Info, Reason: model.ReasonServiceExternalName,
			Message: fmt.Sprintf("Service %s/%s is an ExternalName, a DNS alias (CNAME) of %s: the cluster service %s/%s it names is what is diagnosed", svc.Namespace, svc.Name, svc.Spec.ExternalName, t.Namespace, t.Name)})
		svc = t
	}
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if in.Hostname != "" && in.IP == "" {
				out = append(out, model.Suspicion{Level: model.Info, Reason: model.ReasonServiceLoadBalancerHostname,
					Message: fmt.Sprintf("The load balancer of Service %s/%s is known by the hostname %s, not an address: its traffic reaches the nodes through the cloud load balancer's own addresses, to the node ports, which the cluster's state does not show", svc.Namespace, svc.Name, in.Hostname)})
			}
		}
	}
	return out
}
