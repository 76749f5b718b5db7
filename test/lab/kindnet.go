package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// kindnet's names, as kindnetd uses them.
const (
	kindnetMasqChain = "KIND-MASQ-AGENT"
	// kindnetConfList is where kindnetd writes the node's CNI configuration
	// (/etc/cni/net.d/10-kindnet.conflist on a kind node), under the node's directory here.
	kindnetConfList = "10-kindnet.conflist"
)

// layKindnetNode lays what kindnetd lays on a node: a route to every other node's pod CIDR
// via that node's InternalIP, the KIND-MASQ-AGENT chain that masquerades what leaves the
// pod subnet, and the CNI configuration (ptp with host-local over the node's pod CIDR, then
// portmap) the runtime wires the node's pods with.
func (l *Lab) layKindnetNode(ctx context.Context, n *Node) error {
	var lines []string
	for _, peer := range l.nodes {
		if peer != n {
			lines = append(lines, fmt.Sprintf("route replace %s via %s", peer.PodCIDR, peer.IP))
		}
	}
	if err := batch(ctx, n.Netns, lines); err != nil {
		return err
	}
	rules := fmt.Sprintf(`*nat
:%[1]s - [0:0]
-A POSTROUTING -m addrtype ! --dst-type LOCAL -m comment --comment "kind-masq-agent: non-local destinations" -j %[1]s
-A %[1]s -d %[2]s -m comment --comment "kind-masq-agent: pod traffic is not masqueraded" -j RETURN
-A %[1]s -m comment --comment "kind-masq-agent: outbound traffic is masqueraded" -j MASQUERADE
COMMIT
`, kindnetMasqChain, clusterCIDR)
	if err := iptablesRestore(ctx, n.Netns, rules); err != nil {
		return err
	}
	out, err := nsExec(ctx, n.Netns, "cat", "/sys/class/net/eth0/mtu")
	if err != nil {
		return err
	}
	mtu, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		return fmt.Errorf("MTU of eth0 on %s: %w", n.Name, err)
	}
	return writeKindnetConfList(n, mtu)
}

// writeKindnetConfList writes the configuration kindnetd templates from the node's pod CIDR
// and eth0's MTU: ptp without its own masquerade, host-local with a default route, and
// portmap for hostPorts.
func writeKindnetConfList(n *Node, mtu int) error {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "kindnet",
		"plugins": []map[string]any{
			{
				"type":   "ptp",
				"ipMasq": false,
				"mtu":    mtu,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": filepath.Join(n.dir, "ipam"),
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"ranges":  [][]map[string]string{{{"subnet": n.PodCIDR.String()}}},
				},
			},
			{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(n.dir, kindnetConfList), b, 0o644)
}

// kindnetPlugins reads the node's configuration list and returns each plugin's own
// configuration, with the list's name and version, as a runtime hands them out.
func kindnetPlugins(n *Node) ([]map[string]any, error) {
	b, err := os.ReadFile(filepath.Join(n.dir, kindnetConfList))
	if err != nil {
		return nil, fmt.Errorf("read the kindnet CNI configuration of %s: %w", n.Name, err)
	}
	var list struct {
		CNIVersion string           `json:"cniVersion"`
		Name       string           `json:"name"`
		Plugins    []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("decode the kindnet CNI configuration of %s: %w", n.Name, err)
	}
	for _, p := range list.Plugins {
		p["cniVersion"], p["name"] = list.CNIVersion, list.Name
	}
	return list.Plugins, nil
}

// wireKindnetPod runs the node's configuration list for a pod as a runtime does: ptp (which
// calls host-local), then portmap with ptp's result; the pod asks for no hostPort here, so
// portmap only records that.
func (l *Lab) wireKindnetPod(ctx context.Context, n *Node, podNetns, containerID string) (netip.Addr, error) {
	plugins, err := kindnetPlugins(n)
	if err != nil {
		return netip.Addr{}, err
	}
	var prev cniResult
	for i, p := range plugins {
		if i > 0 {
			p["prevResult"] = map[string]any{"cniVersion": p["cniVersion"], "ips": prev.IPs}
			p["runtimeConfig"] = map[string]any{"portMappings": []any{}}
		}
		conf, err := json.Marshal(p)
		if err != nil {
			return netip.Addr{}, err
		}
		res, err := l.cni(ctx, n, "ADD", fmt.Sprint(p["type"]), containerID, podNetns, "eth0", conf)
		if err != nil {
			return netip.Addr{}, err
		}
		if i == 0 {
			prev = res
		}
	}
	return prev.firstIP()
}

// unwireKindnetPod runs the list's DEL in reverse order, which releases the pod's address.
func (l *Lab) unwireKindnetPod(ctx context.Context, n *Node, podNetns, containerID string) error {
	plugins, err := kindnetPlugins(n)
	if err != nil {
		return err
	}
	for i := len(plugins) - 1; i >= 0; i-- {
		conf, err := json.Marshal(plugins[i])
		if err != nil {
			return err
		}
		if _, err := l.cni(ctx, n, "DEL", fmt.Sprint(plugins[i]["type"]), containerID, podNetns, "eth0", conf); err != nil {
			return err
		}
	}
	return nil
}
