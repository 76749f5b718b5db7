package plugins

import (
	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/plugin/calico"
	"github.com/netdiag/netdiag/internal/plugin/canal"
	"github.com/netdiag/netdiag/internal/plugin/cilium"
	"github.com/netdiag/netdiag/internal/plugin/flannel"
	"github.com/netdiag/netdiag/internal/plugin/k3s"
	"github.com/netdiag/netdiag/internal/plugin/kindnet"
	"github.com/netdiag/netdiag/internal/plugin/recognised"
)

// Descriptors lists every plugin, in the order detection tries them.
func Descriptors() []plugin.Descriptor {
	return []plugin.Descriptor{
		plugin.GenericDescriptor(),
		flannel.Descriptor(),
		calico.Descriptor(),
		kindnet.Descriptor(),
		canal.Descriptor(),
		k3s.Descriptor(),
		cilium.Descriptor(),
		recognised.Antrea(),
		recognised.Weave(),
		recognised.KubeRouter(),
	}
}

// Registry returns a new registry of every plugin, with their flags at their defaults.
func Registry() *plugin.Registry {
	r, err := plugin.NewRegistry(Descriptors()...)
	if err != nil {
		// The list above is fixed at build time; TestRegistry proves it valid.
		panic(err)
	}
	return r
}
