package flannel

import (
	"fmt"
	"slices"

	"github.com/spf13/pflag"
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
}

// Validate reports a backend flannel does not have and names that cannot be devices.
func (c *Config) Validate() error {
	if backends := []string{BackendAuto, BackendVXLAN, BackendHostGW}; !slices.Contains(backends, c.Backend) {
		return fmt.Errorf("--flannel-backend %q: want one of %v", c.Backend, backends)
	}
	if c.Bridge == "" || len(c.Bridge) > 15 {
		return fmt.Errorf("--flannel-bridge %q: want an interface name of 1 to 15 characters", c.Bridge)
	}
	if c.VXLANDevice == "" || len(c.VXLANDevice) > 13 {
		return fmt.Errorf("--flannel-vxlan-device %q: want a name prefix of 1 to 13 characters", c.VXLANDevice)
	}
	return nil
}
