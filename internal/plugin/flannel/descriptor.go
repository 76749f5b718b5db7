package flannel

import (
	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/plugin"
)

// Descriptor is flannel as the registry knows it.
func Descriptor() plugin.Descriptor {
	return plugin.Descriptor{
		Name:    Name,
		Summary: "pods on the cni0 bridge, vxlan or host-gw between nodes",
		Recognise: func(s *cluster.Snapshot) (string, bool) {
			if ev, ok := cluster.DaemonSetMentioning(s, "kube-flannel", "flannel"); ok {
				return ev, true
			}
			return cluster.NodeAnnotated(s, AnnotationBackendType)
		},
		// The project's manifest (kube-flannel.yml) installs into its own namespace.
		Namespaces: []string{"kube-flannel"},
		NewConfig:  func() plugin.Config { return NewConfig() },
		New: func(env *plugin.Env, cfg plugin.Config) (plugin.Plugin, error) {
			return New(env, *cfg.(*Config)), nil
		},
	}
}
