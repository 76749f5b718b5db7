package calico

import (
	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/plugin"
)

// Descriptor is calico as the registry knows it.
func Descriptor() plugin.Descriptor {
	return plugin.Descriptor{
		Name:    Name,
		Summary: "pods on routed /32 veths, BGP-routed, vxlan or IP-in-IP between nodes",
		Recognise: func(s *cluster.Snapshot) (string, bool) {
			if ev, ok := cluster.DaemonSetMentioning(s, "calico-node", "calico/node"); ok {
				return ev, true
			}
			return cluster.NodeAnnotated(s, AnnotationIPv4Address)
		},
		// The operator's install puts calico-node in calico-system, the operator itself in
		// tigera-operator; the manifest install uses kube-system.
		Namespaces: []string{"calico-system", "tigera-operator"},
		NewConfig:  func() plugin.Config { return NewConfig() },
		New: func(env *plugin.Env, cfg plugin.Config) (plugin.Plugin, error) {
			return New(env, *cfg.(*Config)), nil
		},
	}
}
