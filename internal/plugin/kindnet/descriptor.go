package kindnet

import (
	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/plugin"
)

// Descriptor is kindnet as the registry knows it.
func Descriptor() plugin.Descriptor {
	return plugin.Descriptor{
		Name:    Name,
		Summary: "pods on ptp veths, each node's pod CIDR routed via its InternalIP, KIND-MASQ-AGENT masquerade",
		Recognise: func(s *cluster.Snapshot) (string, bool) {
			// kind's DaemonSet is kube-system/kindnet; minikube's kindnet runs the same image.
			return cluster.DaemonSetMentioning(s, "kindnet")
		},
		NewConfig: func() plugin.Config { return NewConfig() },
		New: func(env *plugin.Env, cfg plugin.Config) (plugin.Plugin, error) {
			return New(env, *cfg.(*Config)), nil
		},
	}
}
