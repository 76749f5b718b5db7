package netnsutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// confDefaults are the kernel's own values of the per-interface IPv4 keys the collector
// reads (below net/ipv4/conf/<all|default|interface>).
func confDefaults() map[string]string {
	return map[string]string{
		"forwarding": "0", "rp_filter": "0", "proxy_arp": "0", "arp_ignore": "0", "accept_local": "0", "route_localnet": "0",
	}
}

// ResetSysctls gives the network namespace at path the kernel's own defaults for IP
// forwarding and the per-interface IPv4 keys of all, default and every interface it has.
// A new namespace does not start from those: the kernel copies them from the root
// namespace (net.core.devconf_inherit_init_net is 0, and exists only there), so on a host
// with ip_forward=1 or a strict rp_filter every new namespace has them too. Call it right
// after making the namespace, before adding interfaces, which copy "default" when made.
func ResetSysctls(path string) error {
	return Do(path, func() error {
		// ip_forward first: writing it sets every interface's forwarding too.
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("0"), 0o644); err != nil {
			return fmt.Errorf("reset ip_forward in %s: %w", path, err)
		}
		confs, err := os.ReadDir("/proc/sys/net/ipv4/conf")
		if err != nil {
			return fmt.Errorf("list ipv4/conf in %s: %w", path, err)
		}
		var errs []error
		for _, c := range confs {
			for key, value := range confDefaults() {
				if err := os.WriteFile(filepath.Join("/proc/sys/net/ipv4/conf", c.Name(), key), []byte(value), 0o644); err != nil {
					errs = append(errs, fmt.Errorf("reset ipv4/conf/%s/%s in %s: %w", c.Name(), key, path, err))
				}
			}
		}
		return errors.Join(errs...)
	})
}
