package calico

import (
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/pflag"

	"github.com/netdiag/netdiag/internal/plugin"
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
	// VXLANMTU and IPIPMTU are felix's MTUs for its tunnel devices (FELIX_VXLANMTU,
	// FELIX_IPINIPMTU); 0: not configured (felix detects them from the host's interfaces).
	VXLANMTU, IPIPMTU int
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
	fs.IntVar(&c.VXLANMTU, "calico-vxlan-mtu", c.VXLANMTU, "MTU felix gives its vxlan device (FELIX_VXLANMTU); 0: detected by felix")
	fs.IntVar(&c.IPIPMTU, "calico-ipip-mtu", c.IPIPMTU, "MTU felix gives tunl0 (FELIX_IPINIPMTU); 0: detected by felix")
}

// Validate reports a mode calico does not have and names that cannot be devices.
func (c *Config) Validate() error {
	if modes := []string{ModeAuto, ModeRouted, ModeVXLAN, ModeIPIP}; !slices.Contains(modes, c.Mode) {
		return fmt.Errorf("--calico-mode %q: want one of %v", c.Mode, modes)
	}
	if err := errors.Join(plugin.ValidateMTU("calico-vxlan", c.VXLANMTU), plugin.ValidateMTU("calico-ipip", c.IPIPMTU)); err != nil {
		return err
	}
	if c.VXLANDevice == "" || len(c.VXLANDevice) > 15 {
		return fmt.Errorf("--calico-vxlan-device %q: want an interface name of 1 to 15 characters", c.VXLANDevice)
	}
	if len(c.InterfacePrefix) > 14 {
		return fmt.Errorf("--calico-interface-prefix %q: longer than an interface name allows", c.InterfacePrefix)
	}
	return nil
}
