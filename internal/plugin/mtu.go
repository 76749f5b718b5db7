package plugin

import (
	"fmt"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

// CheckConfiguredMTU reports a device whose MTU is not the one the plugin was configured to
// give it (want, from the plugin's mtu option; 0: not configured), and a configured MTU
// that the underlay cannot carry with the device's overhead. setting names the option in
// the plugin's own words ("flannel's vxlan MTU", "felix's VXLANMTU").
func CheckConfiguredMTU(h *Hop, dev *netstack.Interface, want, overhead int, setting string) {
	if want == 0 || dev == nil {
		return
	}
	if dev.MTU != want {
		h.Suspectf(model.Warning, model.ReasonMTUMismatch, dev.Name, "",
			"%s has MTU %d, but %s is %d: the agent has not applied the setting yet (restart it on %s), or the option given to netdiag is not the cluster's",
			dev.Name, dev.MTU, setting, want, h.Node)
	}
	if u := h.Underlay(); u != nil && want+overhead > u.MTU {
		h.Suspectf(model.Warning, model.ReasonMTUMismatch, u.Name, "",
			"%s is %d, which with the %d bytes of encapsulation needs %d on %s, which has %d: full-size packets are dropped after encapsulation; set it to at most %d",
			setting, want, overhead, want+overhead, u.Name, u.MTU, u.MTU-overhead)
	}
}

// ValidateMTU reports an MTU no interface can have, naming the flag (--<flag>); 0 is "not
// configured".
func ValidateMTU(flag string, mtu int) error {
	if mtu != 0 && (mtu < 68 || mtu > 65535) {
		return fmt.Errorf("--%s-mtu %d: want 0 (not configured) or an MTU from 68 to 65535", flag, mtu)
	}
	return nil
}
