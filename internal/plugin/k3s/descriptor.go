package k3s

import (
	"maps"
	"slices"
	"strings"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/plugin/flannel"
)

// Descriptor is k3s as the registry knows it.
func Descriptor() plugin.Descriptor {
	return plugin.Descriptor{
		Name:      Name,
		Summary:   "k3s's embedded flannel (no DaemonSet) with kube-router's NetworkPolicy chains",
		Recognise: Recognise,
		// k3s's nodes carry flannel's annotations too.
		Supersedes: []string{flannel.Name},
		NewConfig:  func() plugin.Config { return NewConfig() },
		New: func(env *plugin.Env, cfg plugin.Config) (plugin.Plugin, error) {
			return New(env, *cfg.(*Config)), nil
		},
	}
}

// Recognise finds a node that k3s runs (its instance-type label or a k3s.io/ annotation)
// and whose flannel k3s embeds (flannel's annotations): a k3s started with
// --flannel-backend=none and another CNI writes no flannel annotation, and that CNI's
// DaemonSet is the evidence.
func Recognise(s *cluster.Snapshot) (string, bool) {
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if _, ok := n.Annotations[flannel.AnnotationBackendType]; !ok {
			continue
		}
		if n.Labels[LabelInstanceType] == InstanceType {
			return "Node " + n.Name + " label " + LabelInstanceType + "=" + InstanceType + " and annotation " + flannel.AnnotationBackendType, true
		}
		for _, k := range slices.Sorted(maps.Keys(n.Annotations)) {
			if strings.HasPrefix(k, AnnotationPrefix) {
				return "Node " + n.Name + " annotation " + k + " and annotation " + flannel.AnnotationBackendType, true
			}
		}
	}
	return "", false
}
