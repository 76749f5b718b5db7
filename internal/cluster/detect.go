package cluster

import (
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
)

// pluginSignatures maps a network plugin to the words its DaemonSet's name or images carry,
// as the projects' own manifests name them.
var pluginSignatures = []struct {
	plugin string
	words  []string
}{
	// Canal runs calico's policy over flannel's data plane with calico's images: it is
	// recognised by name before either.
	{"canal", []string{"canal"}},
	{"calico", []string{"calico-node", "calico/node"}},
	{"cilium", []string{"cilium"}},
	{"antrea", []string{"antrea-agent", "antrea/antrea"}},
	{"weave", []string{"weave-net", "weaveworks/weave"}},
	{"kube-router", []string{"kube-router"}},
	{"flannel", []string{"kube-flannel", "flannel"}},
}

// DetectPlugin names the network plugin from the DaemonSets of the snapshot, or returns
// false when none is recognised.
func DetectPlugin(s *Snapshot) (string, bool) {
	for _, sig := range pluginSignatures {
		for i := range s.DaemonSets {
			if dsMentions(&s.DaemonSets[i], sig.words) {
				return sig.plugin, true
			}
		}
	}
	return "", false
}

func dsMentions(ds *appsv1.DaemonSet, words []string) bool {
	texts := []string{ds.Name, ds.Labels["app"], ds.Labels["k8s-app"], ds.Labels["app.kubernetes.io/name"]}
	spec := ds.Spec.Template.Spec
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		texts = append(texts, c.Name, c.Image)
	}
	for _, t := range texts {
		t = strings.ToLower(t)
		for _, w := range words {
			if strings.Contains(t, w) {
				return true
			}
		}
	}
	return false
}
