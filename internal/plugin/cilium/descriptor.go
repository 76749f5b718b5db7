package cilium

import (
	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin"
)

// Descriptor is cilium as the registry knows it.
func Descriptor() plugin.Descriptor {
	return plugin.Descriptor{
		Name:    Name,
		Summary: "eBPF data plane: followed as it is up to cilium's devices, Unknown past them",
		Recognise: func(s *cluster.Snapshot) (string, bool) {
			// Cilium's chart names the DaemonSet cilium; RKE2's rke2-cilium keeps the name and
			// runs rancher/mirrored-cilium-cilium.
			return cluster.DaemonSetMentioning(s, "cilium")
		},
		// Helm installs into kube-system unless told otherwise; OpenShift's and many GitOps
		// installs use the project's name.
		Namespaces: []string{"cilium"},
		New:        func(env *plugin.Env, _ plugin.Config) (plugin.Plugin, error) { return New(env), nil },
		Reasons: []model.ReasonInfo{{
			Reason: ReasonEBPFDataPlane, Level: model.Info, FoundBy: "cilium", Topic: "The network plugin",
			Meaning: "the packet reached a device whose eBPF programs (cilium's) decide its fate, which the snapshot does not hold: the branch is Undecided and the verdict Unknown",
			Remedy:  "Follow the packet with cilium's own tools from that device on: `cilium monitor` or `hubble observe` on the node named.",
		}},
	}
}
