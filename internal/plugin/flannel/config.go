package flannel

import (
	"fmt"
	"slices"

	"github.com/spf13/pflag"

	"github.com/netdiag/netdiag/internal/plugin"
)

// Config is flannel's configuration as the engine needs it.
type Config struct {
	// Backend is vxlan, host-gw, or auto (read from the node's annotation, else from its
	// devices).
	Backend string
	// Bridge is the CNI bridge the pods hang off.
	Bridge string
	// VXLANDevice is the name prefix of the vxlan device (flannel.<VNI>).
	VXLANDevice string
	// MTU is the vxlan backend's MTU option, the MTU flanneld gives flannel.<VNI> and the
	// pods; 0: not configured (flanneld takes the underlay's less the overhead).
	MTU int
}

// NewConfig returns the configuration at its defaults.
func NewConfig() *Config {
	return &Config{Backend: BackendAuto, Bridge: "cni0", VXLANDevice: "flannel"}
}

// BindFlags binds flannel's flags.
func (c *Config) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Backend, "flannel-backend", c.Backend, "flannel backend to simulate: vxlan, host-gw or auto")
	fs.StringVar(&c.Bridge, "flannel-bridge", c.Bridge, "name of flannel's CNI bridge")
	fs.StringVar(&c.VXLANDevice, "flannel-vxlan-device", c.VXLANDevice, "name prefix of flannel's vxlan device")
	fs.IntVar(&c.MTU, "flannel-mtu", c.MTU, "MTU of flannel's vxlan backend (its net-conf.json Backend.MTU); 0: the underlay's less the overhead")
}

// Validate reports a backend flannel does not have and names that cannot be devices.
func (c *Config) Validate() error {
	if err := ValidateBackend("flannel", c.Backend, c.VXLANDevice); err != nil {
		return err
	}
	if err := plugin.ValidateMTU("flannel", c.MTU); err != nil {
		return err
	}
	if c.Bridge == "" || len(c.Bridge) > 15 {
		return fmt.Errorf("--flannel-bridge %q: want an interface name of 1 to 15 characters", c.Bridge)
	}
	return nil
}

// ValidateBackend reports a backend flannel does not have and a vxlan device prefix that
// cannot name a device, naming the flags of the plugin that binds them (flannel's, or a
// plugin that runs flannel: --canal-backend).
func ValidateBackend(plugin, backend, vxlanDevice string) error {
	if backends := []string{BackendAuto, BackendVXLAN, BackendHostGW}; !slices.Contains(backends, backend) {
		return fmt.Errorf("--%s-backend %q: want one of %v", plugin, backend, backends)
	}
	if vxlanDevice == "" || len(vxlanDevice) > 13 {
		return fmt.Errorf("--%s-vxlan-device %q: want a name prefix of 1 to 13 characters", plugin, vxlanDevice)
	}
	return nil
}
