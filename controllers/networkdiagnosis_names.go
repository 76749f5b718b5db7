package controllers

import (
	"fmt"

	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/model"
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
