package diagnose

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/service"
)

// diagnoseHeadless answers a question to a headless service: a client resolves its name to
// the addresses of its ready pods and connects to one of them, no proxy in between, so each
// pod is a branch of its own, diagnosed as a question to that pod at the port the
// EndpointSlices give the service's port.
func (d *Diagnostor) diagnoseHeadless(in Input, svc *corev1.Service) (*Result, error) {
	q := in.Question
	smp := service.NewSample(in.Cluster, svc, d.MaxServiceNodes, q.Source.Node)
	port := headlessPort(in.Cluster, svc, q.Port)
	what := fmt.Sprintf("%s from %s to the headless service/%s/%s", protoPort(q), short(q.Source), svc.Namespace, svc.Name)
	merged := &Result{Path: model.NewPacketPath()}
	var reached, failed []string
	undecided := 0
	for _, e := range service.UsableEndpoints(in.Cluster, svc.Namespace, svc.Name) {
		if !smp.Followed[e.IP] {
			continue
		}
		dst, ok := in.Cluster.IPCache().Lookup(e.IP)
		if !ok {
			dst = model.Endpoint{Type: model.EndpointExternal, IP: e.IP}
		}
		dst.IP = e.IP
		sub := in
		sub.Question.Destination, sub.Question.Port = dst, port
		res, err := d.Diagnose(sub)
		if err != nil {
			return nil, fmt.Errorf("headless service %s/%s, endpoint %s: %w", svc.Namespace, svc.Name, e.IP, err)
		}
		merged.NetworkPlugin = res.NetworkPlugin
		merge(merged, res)
		switch res.Verdict {
		case Reachable:
			reached = append(reached, short(dst))
		case Unknown:
			undecided++
			failed = append(failed, fmt.Sprintf("%s undecided (%s)", short(dst), res.Summary))
		default:
			failed = append(failed, fmt.Sprintf("%s: %s", short(dst), res.Summary))
		}
	}
	sortSuspicions(merged.Suspicions)
	n := len(reached) + len(failed)
	switch {
	case n == 0:
		merged.Verdict = Unreachable
		merged.Suspicions = append([]model.Suspicion{{Level: model.Critical, Reason: model.ReasonServiceNoEndpoints,
			Message: fmt.Sprintf("The headless Service %s/%s has no ready endpoint: its name resolves to no address", svc.Namespace, svc.Name)}}, merged.Suspicions...)
		merged.Summary = fmt.Sprintf("Unreachable: %s: its name resolves to no ready pod (ServiceNoEndpoints)", what)
	case len(failed) == 0:
		merged.Verdict = Reachable
		merged.Summary = fmt.Sprintf("Reachable: %s arrives at each of its %d ready pods", what, n)
	case len(reached) > 0 && undecided < len(failed):
		merged.Verdict = PartiallyReachable
		merged.Summary = fmt.Sprintf("PartiallyReachable: %s arrives at %d of its %d ready pods; %s", what, len(reached), n, limitJoin(failed))
	case undecided > 0:
		merged.Verdict = Unknown
		merged.Summary = fmt.Sprintf("Unknown: %s: %s", what, limitJoin(failed))
	default:
		merged.Verdict = Unreachable
		merged.Summary = fmt.Sprintf("Unreachable: %s arrives at none of its %d ready pods; %s", what, n, limitJoin(failed))
	}
	merged.Summary += sampled(service.Samples{smp})
	return merged, nil
}

// headlessPort is the port a client of a headless service connects to for the service's
// port: the EndpointSlices' port of the same name (its targetPort), else the port itself.
func headlessPort(snap *cluster.Snapshot, svc *corev1.Service, port uint16) uint16 {
	for _, sp := range svc.Spec.Ports {
		if uint16(sp.Port) != port {
			continue
		}
		for _, es := range snap.EndpointSlicesOf(svc.Namespace, svc.Name) {
			for _, p := range es.Ports {
				if p.Port != nil && (p.Name == nil && sp.Name == "" || p.Name != nil && *p.Name == sp.Name) {
					return uint16(*p.Port)
				}
			}
		}
	}
	return port
}

// merge adds one branch's result to the headless service's.
func merge(into, res *Result) {
	for _, s := range res.Suspicions {
		if !slices.ContainsFunc(into.Suspicions, func(h model.Suspicion) bool { return fmt.Sprint(h) == fmt.Sprint(s) }) {
			into.Suspicions = append(into.Suspicions, s)
		}
	}
	into.Trace = append(into.Trace, res.Trace...)
	if res.Path == nil {
		return
	}
	for _, n := range res.Path.Nodes {
		into.Path.AddNode(n)
	}
	for _, l := range res.Path.Links {
		into.Path.AddLink(&model.NetNode{ID: l.From}, &model.NetNode{ID: l.To}, l)
	}
	for id := range res.Path.Failed {
		into.Path.Failed[id] = true
	}
	into.Path.Branches = append(into.Path.Branches, res.Path.Branches...)
}

func protoPort(q model.Question) string {
	if q.Protocol == model.ICMP {
		return string(q.Protocol)
	}
	return fmt.Sprintf("%s/%d", q.Protocol, q.Port)
}

func limitJoin(parts []string) string {
	if len(parts) > maxNamed {
		return strings.Join(parts[:maxNamed], "; ") + fmt.Sprintf("; and %d more", len(parts)-maxNamed)
	}
	return strings.Join(parts, "; ")
}
