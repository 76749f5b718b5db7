package canal

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/plugin/calico"
	"github.com/netdiag/netdiag/internal/plugin/flannel"
)

// Config is canal's configuration: flannel's backend and device, calico's veth prefix.
type Config struct {
	// Backend is flannel's: vxlan (canal's default), host-gw, or auto.
	Backend string
	// VXLANDevice is the name prefix of flannel's vxlan device.
	VXLANDevice string
	// InterfacePrefix is the prefix of the host ends of pod veths (FELIX_INTERFACEPREFIX).
	InterfacePrefix string
	// MTU is flannel's vxlan MTU; 0: not configured.
	MTU int
}

// NewConfig returns the configuration at its defaults.
func NewConfig() *Config {
	return &Config{Backend: flannel.BackendAuto, VXLANDevice: flannel.NewConfig().VXLANDevice, InterfacePrefix: calico.DefaultInterfacePrefix}
}

// BindFlags binds canal's flags.
func (c *Config) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Backend, "canal-backend", c.Backend, "flannel backend of canal to simulate: vxlan, host-gw or auto")
	fs.StringVar(&c.VXLANDevice, "canal-vxlan-device", c.VXLANDevice, "name prefix of canal's flannel vxlan device")
	fs.IntVar(&c.MTU, "canal-mtu", c.MTU, "MTU of canal's flannel vxlan backend (canal-config's net-conf.json Backend.MTU); 0: the underlay's less the overhead")
	fs.StringVar(&c.InterfacePrefix, "canal-interface-prefix", c.InterfacePrefix, "prefix of the host end of canal's pod veths (FELIX_INTERFACEPREFIX)")
}

// Validate reports a backend flannel does not have and names that cannot be devices.
func (c *Config) Validate() error {
	if err := flannel.ValidateBackend(Name, c.Backend, c.VXLANDevice); err != nil {
		return err
	}
	if err := plugin.ValidateMTU(Name, c.MTU); err != nil {
		return err
	}
	if c.InterfacePrefix == "" || len(c.InterfacePrefix) > 14 {
		return fmt.Errorf("--canal-interface-prefix %q: want a prefix of 1 to 14 characters", c.InterfacePrefix)
	}
	return nil
}
