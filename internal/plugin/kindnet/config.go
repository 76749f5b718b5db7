package kindnet

import (
	"fmt"
	"slices"

	"github.com/spf13/pflag"
)

// NetworkPolicy settings: whether kindnetd enforces NetworkPolicy.
const (
	// PolicyAuto reads it from the release of the kindnetd image.
	PolicyAuto = "auto"
	// PolicyEnforced: kindnetd enforces NetworkPolicy (images since July 2024).
	PolicyEnforced = "enforced"
	// PolicyNotEnforced: kindnetd does not (images before July 2024, kind v0.23 and older).
	PolicyNotEnforced = "not-enforced"
)

// Config is kindnet's configuration as the engine needs it.
type Config struct {
	// NetworkPolicy is auto, enforced or not-enforced.
	NetworkPolicy string
}

// NewConfig returns the configuration at its defaults.
func NewConfig() *Config { return &Config{NetworkPolicy: PolicyAuto} }

// BindFlags binds kindnet's flags.
func (c *Config) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.NetworkPolicy, "kindnet-network-policy", c.NetworkPolicy,
		"whether kindnetd enforces NetworkPolicy: enforced, not-enforced, or auto (from the kindnetd image's release)")
}

// Validate reports a NetworkPolicy setting kindnet does not have.
func (c *Config) Validate() error {
	if settings := []string{PolicyAuto, PolicyEnforced, PolicyNotEnforced}; !slices.Contains(settings, c.NetworkPolicy) {
		return fmt.Errorf("--kindnet-network-policy %q: want one of %v", c.NetworkPolicy, settings)
	}
	return nil
}
