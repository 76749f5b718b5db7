package collector

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// globalSysctls are the namespace-wide keys below /proc/sys/net the engine reads. Keys of
// modules that are not loaded (bridge for br_netfilter, netfilter for conntrack) are simply
// absent from the snapshot.
var globalSysctls = []string{
	"ipv4/ip_forward",
	"ipv4/ip_local_port_range",
	"ipv6/conf/all/forwarding",
	"ipv6/conf/all/disable_ipv6",
	"bridge/bridge-nf-call-iptables",
	"bridge/bridge-nf-call-ip6tables",
	"bridge/bridge-nf-call-arptables",
	"netfilter/nf_conntrack_max",
	"netfilter/nf_conntrack_count",
	"ipv4/vs/conntrack",
}

// confSysctls are read for every entry of ipv4/conf (all, default and each interface): the
// kernel combines "all" with the interface's own value, so the engine needs both.
var confSysctls = []string{"rp_filter", "forwarding", "proxy_arp", "arp_ignore", "accept_local", "route_localnet"}

// readSysctls reads the keys straight from procRoot/sys/net, one file each, in the calling
// thread's network namespace (the kernel picks the namespace of the reading thread).
func readSysctls(procRoot string) (map[string]string, error) {
	base := filepath.Join(procRoot, "sys", "net")
	out := map[string]string{}
	var errs []error
	read := func(key string) {
		b, err := os.ReadFile(filepath.Join(base, key))
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("read %s: %w", key, err))
			}
			return
		}
		// Multi-value keys (ip_local_port_range) are tab separated; keep them readable.
		out[key] = strings.Join(strings.Fields(string(b)), " ")
	}
	for _, k := range globalSysctls {
		read(k)
	}
	confs, err := os.ReadDir(filepath.Join(base, "ipv4", "conf"))
	if err != nil {
		errs = append(errs, fmt.Errorf("list ipv4/conf: %w", err))
	}
	for _, c := range confs {
		for _, k := range confSysctls {
			read("ipv4/conf/" + c.Name() + "/" + k)
		}
	}
	return out, errors.Join(errs...)
}
