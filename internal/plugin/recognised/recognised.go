package recognised

import (
	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/plugin"
)

// byDaemonSet describes a plugin recognised by the words its DaemonSet's name, labels or
// images carry, as the project's own manifests name them.
func byDaemonSet(name, summary string, words ...string) plugin.Descriptor {
	return plugin.Descriptor{
		Name:      name,
		Summary:   summary,
		Recognise: func(s *cluster.Snapshot) (string, bool) { return cluster.DaemonSetMentioning(s, words...) },
	}
}

// Antrea is Open vSwitch based.
func Antrea() plugin.Descriptor {
	return byDaemonSet("antrea", "Open vSwitch data plane (not simulated)", "antrea-agent", "antrea/antrea")
}

// Weave is weave net's own bridge and fastdp.
func Weave() plugin.Descriptor {
	return byDaemonSet("weave", "weave net's bridge and fastdp (not simulated)", "weave-net", "weaveworks/weave")
}

// KubeRouter routes pods over BGP and enforces policy with its own chains.
func KubeRouter() plugin.Descriptor {
	d := byDaemonSet("kube-router", "BGP-routed pods, policy in its own chains (not simulated)", "kube-router")
	d.Namespaces = []string{"kube-router"}
	return d
}
