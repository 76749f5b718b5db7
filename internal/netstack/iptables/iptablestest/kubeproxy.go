package iptablestest

import (
	"net/netip"

	"github.com/netdiag/netdiag/internal/fixture/ruleset"
)

// KubeProxy is a synthetic kube-proxy ruleset in iptables mode.
type KubeProxy struct {
	// Services and EndpointsPerService size it; the services are ruleset.Numbered's, with
	// a NodePort each when NodePorts is set.
	Services            int
	EndpointsPerService int
	NodePorts           bool
	// Counters prefixes every rule with [packets:bytes] as iptables-save -c does.
	Counters bool
}

// ClusterIP is the i-th service's cluster IP.
func ClusterIP(i int) string { return ruleset.Numbered(i, 0, false).ClusterIP.String() }

// EndpointIP is the j-th endpoint of the i-th service.
func EndpointIP(i, j int) string { return ruleset.Numbered(i, j+1, false).Endpoints[j].Addr().String() }

// Save writes the ruleset as iptables-save prints it.
func (k KubeProxy) Save() string {
	svcs := make([]ruleset.Service, k.Services)
	for i := range svcs {
		svcs[i] = ruleset.Numbered(i, k.EndpointsPerService, k.NodePorts)
	}
	t := ruleset.NewTables()
	ruleset.KubeProxy(t, svcs, ruleset.Node{ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16")})
	var counters func() string
	if k.Counters {
		counters = func() string { return "[0:0]" }
	}
	return t.SaveByChain(counters)
}
