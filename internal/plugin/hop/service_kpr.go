package hop

import (
	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/service"
)

// replacedProxy ends the branch undecided, with the replacement named, when a kube-proxy
// replacement serves the cluster's Services: it translates outside the rules netdiag reads
// (in eBPF, at the socket, in OVS), so a node without kube-proxy's rules is what such a
// cluster looks like, not a fault.
func (p *Pipeline) replacedProxy(h *Hop) bool {
	r, ok := cluster.DetectProxyReplacement(h.Env.Cluster)
	if !ok && service.DetectMode(h.Stack) == service.ModeNone {
		if r, ok = cluster.InferProxyReplacement(h.Env.Cluster); ok {
			r.Evidence += ", and node " + p.Node + " has no kube-proxy rules"
		}
	}
	if !ok {
		return false
	}
	h.Suspectf(model.Info, model.ReasonServiceProxyReplaced, "", "",
		"%s serves the cluster's Services (%s); netdiag does not simulate it, so the way through the service from %s is not followed: set probe: true to have real packets decide, or ask about an endpoint pod directly",
		r.Name, r.Evidence, p.NetNode.Name)
	h.end(Undecided, r.Name+" translates the service, which is not simulated")
	return true
}
