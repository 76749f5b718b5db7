package controllers

import (
	"fmt"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/collector"
	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

// resolveName resolves a destination named by a DNS name for the source, as its resolver
// and the cluster DNS would, and keeps in s how it did and the flows of the DNS path. A name
// that resolves to no address is no error: the engine answers it (NameNotResolved).
func (r *NetworkDiagnosisReconciler) resolveName(s *scope, src model.Endpoint, name string) (model.Endpoint, error) {
	n := diagnose.ResolveName(s.snapshot, r.ClusterDomain, src, name)
	dst, _, err := n.Endpoint(s.snapshot)
	if err != nil {
		return model.Endpoint{}, err
	}
	s.name, s.dns = &n, n.DNSQuestions(s.snapshot, src)
	return dst, nil
}

// engine answers the input; for a destination name, with its resolution and DNS path.
func (r *NetworkDiagnosisReconciler) engine(s *scope, in diagnose.Input) (*diagnose.Result, error) {
	if s.name == nil {
		return r.Engine(in)
	}
	return diagnose.DiagnoseName(r.Engine, in, *s.name, s.dns)
}

// destinationSummary is the resolved destination as the status names it: for a name, the
// name and what it resolved to.
func destinationSummary(s *scope, q model.Question) string {
	if s.name == nil {
		return q.Destination.String()
	}
	if !q.Destination.IP.IsValid() {
		return fmt.Sprintf("name/%s (unresolved)", s.name.Name)
	}
	return fmt.Sprintf("name/%s -> %s", s.name.Name, q.Destination)
}

// lookupArgs ask the source pod's collector to resolve a name the cluster's objects leave to
// the pod's own resolver, with the resolv.conf the kubelet writes for it.
func lookupArgs(s *scope, q model.Question) []string {
	n := s.name
	if n == nil || n.Resolution.External == "" || !n.HasResolver || q.Source.Type != model.EndpointPod {
		return nil
	}
	return collector.LookupSpec{FromPod: q.Source.Namespace + "/" + q.Source.Name, Name: n.Name, ResolvConf: n.ResolvConf}.Args()
}

// nameAnswered takes the source resolver's answer from its collector's snapshot, for a name
// the objects could not answer: the question goes to the first address, and the status says
// so.
func nameAnswered(s *scope, q model.Question, nodes map[string]*netstack.NodeSnapshot) model.Question {
	if s.name == nil || q.Destination.IP.IsValid() || nodes[q.Source.Node] == nil || nodes[q.Source.Node].Lookup == nil {
		return q
	}
	s.name.Answer = nodes[q.Source.Node].Lookup
	if len(s.name.Answer.Addrs) > 0 {
		// An address always resolves: to what owns it in the cluster, or to itself.
		q.Destination, _ = s.snapshot.Resolve(cluster.EndpointRef{Type: model.EndpointExternal, IP: s.name.Answer.Addrs[0].Unmap()})
		s.nd.Status.DestinationSummary = truncate(destinationSummary(s, q), 512)
	}
	return q
}

// nameBundleRef is the destination a bundle names for a diagnosis toward a name: the address
// the name resolved to, which `netdiag diagnose` resolves to its owner again. The name itself
// and its DNS path are not replayed.
func nameBundleRef(n *diagnose.Name, q model.Question) (cluster.EndpointRef, error) {
	if !q.Destination.IP.IsValid() {
		return cluster.EndpointRef{}, fmt.Errorf("name %s resolved to no address, which a bundle's question cannot name", n.Name)
	}
	return cluster.EndpointRef{Type: model.EndpointExternal, IP: q.Destination.IP}, nil
}
