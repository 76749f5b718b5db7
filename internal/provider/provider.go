package provider

import (
	"fmt"

	"github.com/netdiag/netdiag/internal/network"
	"github.com/netdiag/netdiag/internal/network/generic"
	"github.com/netdiag/netdiag/internal/plugin"
)

// CreateNetwork builds the plugin d describes, with cfg, on env, and the Network that walks
// it. Every plugin today is walked by the generic Network; a plugin whose packets cannot be
// walked NetNode by NetNode (an eBPF data plane) would get its own Network here, by its
// plugin type. It sets env.EnforcesPolicy (and EnforcesAdminPolicy) from the plugin.
func CreateNetwork(d plugin.Descriptor, cfg plugin.Config, env *plugin.Env) (network.Network, plugin.Plugin, error) {
	if !d.Simulated() {
		return nil, nil, fmt.Errorf("network plugin %q is recognised but not simulated", d.Name)
	}
	p, err := d.New(env, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("network plugin %s: %w", d.Name, err)
	}
	env.EnforcesPolicy = p.EnforcesPolicy()
	if a, ok := p.(plugin.AdminPolicyEnforcer); ok {
		env.EnforcesAdminPolicy = a.EnforcesAdminPolicy()
	}
	return generic.New(p, env), p, nil
}
