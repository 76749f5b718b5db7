package k3s

import (
	"fmt"
	"slices"

	"github.com/spf13/pflag"

	"github.com/netdiag/netdiag/internal/plugin/flannel"
)

// NetworkPolicy settings.
const (
	// PolicyAuto: enforced unless no collected node has kube-router's chains.
	PolicyAuto        = "auto"
	PolicyEnforced    = "enforced"
	PolicyNotEnforced = "not-enforced"
)

// Config is k3s's configuration as the engine needs it.
type Config struct {
	// Backend is embedded flannel's (--flannel-backend): vxlan, host-gw, or auto.
	Backend string
	// NetworkPolicy is auto, enforced or not-enforced (--disable-network-policy).
	NetworkPolicy string
}

// NewConfig returns the configuration at its defaults.
func NewConfig() *Config { return &Config{Backend: flannel.BackendAuto, NetworkPolicy: PolicyAuto} }

// BindFlags binds k3s's flags.
func (c *Config) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Backend, "k3s-backend", c.Backend, "backend of k3s's embedded flannel to simulate: vxlan, host-gw or auto")
	fs.StringVar(&c.NetworkPolicy, "k3s-network-policy", c.NetworkPolicy, "whether k3s's kube-router enforces NetworkPolicy: auto (from the nodes' chains), enforced or not-enforced (k3s --disable-network-policy)")
}

// Validate reports a backend or a policy setting k3s does not have.
func (c *Config) Validate() error {
	if err := flannel.ValidateBackend(Name, c.Backend, flannel.NewConfig().VXLANDevice); err != nil {
		return err
	}
	if settings := []string{PolicyAuto, PolicyEnforced, PolicyNotEnforced}; !slices.Contains(settings, c.NetworkPolicy) {
		return fmt.Errorf("--k3s-network-policy %q: want one of %v", c.NetworkPolicy, settings)
	}
	return nil
}
