package provider

import (
	"fmt"
	"slices"

	"github.com/netdiag/netdiag/internal/network"
	"github.com/netdiag/netdiag/internal/network/generic"
	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/plugin/calico"
	"github.com/netdiag/netdiag/internal/plugin/flannel"
)

// Plugins are the plugin names CreateNetwork knows.
var Plugins = []string{flannel.Name, calico.Name, plugin.GenericName}

// CreateNetwork returns the Network of the named plugin on env. It sets env.EnforcesPolicy
// from the plugin.
func CreateNetwork(pluginName string, env *plugin.Env) (network.Network, plugin.Plugin, error) {
	var p plugin.Plugin
	switch pluginName {
	case flannel.Name:
		p = flannel.New(env, *flannel.DefaultConfig)
	case calico.Name:
		p = calico.New(env, *calico.DefaultConfig)
	case plugin.GenericName:
		p = &plugin.Generic{Env: env}
	default:
		return nil, nil, fmt.Errorf("network plugin %q is not supported (supported: %v)", pluginName, slices.Clone(Plugins))
	}
	env.EnforcesPolicy = p.EnforcesPolicy()
	return generic.New(p, env), p, nil
}
