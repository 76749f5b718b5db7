package hop

import (
	"net/netip"

	"github.com/netdiag/netdiag/internal/service"
)

// Entries returns the sample of the service whose address outside the cluster's own (a
// load-balancer or external IP) dst is, when the diagnosis chose the nodes traffic from
// outside enters it by: a router outside picks one, which no node's state shows, so each
// is followed.
func (e *Env) Entries(dst netip.Addr) (*service.Sample, bool) {
	for _, s := range e.Samples {
		if len(s.Entries) == 0 {
			continue
		}
		svc := e.Cluster.Service(s.Namespace, s.Name)
		if svc != nil && service.ExternalAddress(svc, dst) {
			return s, true
		}
	}
	return nil, false
}
