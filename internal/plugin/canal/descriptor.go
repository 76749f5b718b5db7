package canal

import (
	"slices"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/plugin/calico"
	"github.com/netdiag/netdiag/internal/plugin/flannel"
)

// Descriptor is canal as the registry knows it.
func Descriptor() plugin.Descriptor {
	return plugin.Descriptor{
		Name:      Name,
		Summary:   "calico's /32 pod veths and felix's policy chains, flannel's vxlan or host-gw between nodes",
		Recognise: Recognise,
		// Canal runs both projects' agents: it is the one meant when either is recognised
		// with it.
		Supersedes: []string{calico.Name, flannel.Name},
		NewConfig:  func() plugin.Config { return NewConfig() },
		New: func(env *plugin.Env, cfg plugin.Config) (plugin.Plugin, error) {
			return New(env, *cfg.(*Config)), nil
		},
	}
}

// Recognise finds canal's DaemonSet by its names (the manifest's canal, RKE2's rke2-canal),
// or as the one DaemonSet that runs both calico-node and kube-flannel, which is what a
// renamed canal still is.
func Recognise(s *cluster.Snapshot) (string, bool) {
	if ev, ok := cluster.DaemonSetMentioning(s, DaemonSet); ok {
		return ev, true
	}
	for i := range s.DaemonSets {
		ds := &s.DaemonSets[i]
		var names []string
		for _, c := range ds.Spec.Template.Spec.Containers {
			names = append(names, c.Name)
		}
		if slices.Contains(names, CalicoContainer) && slices.Contains(names, FlannelContainer) {
			return cluster.DaemonSetEvidence + ds.Namespace + "/" + ds.Name, true
		}
	}
	return "", false
}
