package hop

import "github.com/netdiag/netdiag/internal/netstack"

// hairpinOff reports whether a frame would have to leave a bridge by the port it came in by
// (a pod reaching itself through its Service) and the port's collected hairpin mode is off.
// A mode not collected decides nothing.
func hairpinOff(h *Hop, port *netstack.Interface) bool {
	return h.In != nil && h.In.Link.ToInterface == port.Name && port.Hairpin != nil && !*port.Hairpin
}
