package calico

import (
	"fmt"
	"slices"

	"github.com/spf13/pflag"
)

// Config is calico's configuration as the engine needs it.
type Config struct {
	// Mode is routed, vxlan, ipip, or auto (from the node's devices, then calico-node's
	// annotations and environment).
	Mode string
	// InterfacePrefix is the prefix of the host ends of pod veths.
	InterfacePrefix string
	// VXLANDevice is felix's vxlan device.
	VXLANDevice string
}

// NewConfig returns the configuration at its defaults.
func NewConfig() *Config {
	return &Config{Mode: ModeAuto, InterfacePrefix: DefaultInterfacePrefix, VXLANDevice: DefaultVXLANDevice}
}

// BindFlags binds calico's flags.
func (c *Config) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Mode, "calico-mode", c.Mode, "calico data plane to simulate: routed, vxlan, ipip or auto")
	fs.StringVar(&c.InterfacePrefix, "calico-interface-prefix", c.InterfacePrefix, "prefix of the host end of calico's pod veths (FELIX_INTERFACEPREFIX)")
	fs.StringVar(&c.VXLANDevice, "calico-vxlan-device", c.VXLANDevice, "name of calico's vxlan device")
}

// Validate reports a mode calico does not have and names that cannot be devices.
func (c *Config) Validate() error {
	if modes := []string{ModeAuto, ModeRouted, ModeVXLAN, ModeIPIP}; !slices.Contains(modes, c.Mode) {
		return fmt.Errorf("--calico-mode %q: want one of %v", c.Mode, modes)
	}
	if c.VXLANDevice == "" || len(c.VXLANDevice) > 15 {
		return fmt.Errorf("--calico-vxlan-device %q: want an interface name of 1 to 15 characters", c.VXLANDevice)
	}
	if len(c.InterfacePrefix) > 14 {
		return fmt.Errorf("--calico-interface-prefix %q: longer than an interface name allows", c.InterfacePrefix)
	}
	return nil
}
