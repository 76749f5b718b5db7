package lab

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Calico's constants, as felix uses them.
const (
	calicoVXLANDevice = "vxlan.calico"
	calicoVXLANVNI    = 4096
	calicoVXLANPort   = 4789
	calicoGateway     = "169.254.1.1"
	// calicoMTU leaves room for the vxlan header, as calico's auto-detected MTU does on 1500.
	calicoVXLANMTU = 1450
)

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// layPodNetwork lays what the mode's node agent lays between nodes.
func (l *Lab) layPodNetwork(ctx context.Context) error {
	switch {
	case l.cfg.Mode.Flannel():
		return l.startFlannel(ctx)
	case l.cfg.Mode == ModeCalicoRouted || l.cfg.Mode == ModeCalicoVXLAN:
		for _, n := range l.nodes {
			if err := l.layCalicoNode(ctx, n); err != nil {
				return fmt.Errorf("lay calico on %s: %w", n.Name, err)
			}
		}
		return nil
	case l.cfg.Mode == ModeKindnet:
		for _, n := range l.nodes {
			if err := l.layKindnetNode(ctx, n); err != nil {
				return fmt.Errorf("lay kindnet on %s: %w", n.Name, err)
			}
		}
		return nil
	}
	return fmt.Errorf("mode %q has no pod network", l.cfg.Mode)
}

// startFlannel runs flanneld with the kube subnet manager on every node, then waits for each
// to write its subnet file, which is when its routes, fdb and masquerade rules are in place.
func (l *Lab) startFlannel(ctx context.Context) error {
	backend := "vxlan"
	if l.cfg.Mode == ModeFlannelHostGW {
		backend = "host-gw"
	}
	netConf := filepath.Join(l.cfg.Dir, "net-conf.json")
	conf := fmt.Sprintf(`{"Network": %q, "Backend": {"Type": %q}}`, clusterCIDR, backend)
	if err := os.WriteFile(netConf, []byte(conf), 0o644); err != nil {
		return fmt.Errorf("write flannel net-conf: %w", err)
	}
	for _, n := range l.nodes {
		p, err := startProcess("flanneld-"+n.Name, n.Netns, l.logPath("flanneld-"+n.Name), []string{
			l.bin("flannel/flanneld"),
			"--kube-subnet-mgr", "--kubeconfig-file=" + l.adminInsidePath(),
			"--iface=eth0", "--ip-masq",
			"--subnet-file=" + filepath.Join(n.dir, "subnet.env"),
			"--net-config-path=" + netConf,
		}, startOptions{env: []string{"NODE_NAME=" + n.Name}})
		if err != nil {
			return err
		}
		l.procs.add(p)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, n := range l.nodes {
		err := waitFor(ctx, "flanneld on "+n.Name, 100*time.Millisecond, func(context.Context) (bool, error) {
			_, err := readSubnetEnv(filepath.Join(n.dir, "subnet.env"))
			return err == nil, err
		})
		if err != nil {
			return fmt.Errorf("%w (see %s)", err, l.logPath("flanneld-"+n.Name))
		}
	}
	// Each flanneld programs a peer when it sees the peer's lease (node annotations); wait
	// until every node has a route to every other node's pod CIDR.
	for _, n := range l.nodes {
		err := waitFor(ctx, "flannel routes on "+n.Name, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
			out, err := run(ctx, "ip", "-n", n.Netns, "route", "show")
			if err != nil {
				return false, err
			}
			for _, peer := range l.nodes {
				if peer != n && !strings.Contains(string(out), peer.PodCIDR.String()) {
					return false, nil
				}
			}
			return true, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// readSubnetEnv reads flanneld's subnet file (FLANNEL_NETWORK, FLANNEL_SUBNET, FLANNEL_MTU,
// FLANNEL_IPMASQ), the file flannel's CNI plugin reads.
func readSubnetEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	if env["FLANNEL_SUBNET"] == "" || env["FLANNEL_MTU"] == "" {
		return nil, fmt.Errorf("subnet file %s is incomplete", path)
	}
	return env, sc.Err()
}

// calicoTunnelIP is a node's vxlan.calico address: the first address of its block, as calico
// IPAM hands out the tunnel address first.
func calicoTunnelIP(n *Node) netip.Addr { return n.PodCIDR.Addr() }

// calicoVTEPMAC is a node's vxlan.calico MAC; felix publishes it in the node's
// VXLANTunnelMACAddr, here derived from the node's index so peers know it without a datastore.
func calicoVTEPMAC(n *Node) string {
	return fmt.Sprintf("66:c0:ca:11:%02x:%02x", n.index/256, n.index%256)
}

// layCalicoNode lays what felix and BIRD lay on a node: the block's blackhole, a route per
// peer block (via the peer over the underlay in routed mode, via the peer's VTEP in vxlan
// mode), and the nat-outgoing masquerade for pod traffic leaving the pool.
func (l *Lab) layCalicoNode(ctx context.Context, n *Node) error {
	var lines []string
	// BIRD exports the local block and installs a blackhole so addresses not (yet) in use
	// are dropped here rather than bounced back out.
	lines = append(lines, fmt.Sprintf("route replace blackhole %s proto bird", n.PodCIDR))
	if l.cfg.Mode == ModeCalicoVXLAN {
		lines = append(lines,
			fmt.Sprintf("link add %s address %s type vxlan id %d dstport %d local %s dev eth0 nolearning",
				calicoVXLANDevice, calicoVTEPMAC(n), calicoVXLANVNI, calicoVXLANPort, n.IP),
			fmt.Sprintf("link set %s mtu %d up", calicoVXLANDevice, calicoVXLANMTU),
			fmt.Sprintf("addr add %s/32 dev %s", calicoTunnelIP(n), calicoVXLANDevice))
	}
	for _, peer := range l.nodes {
		if peer == n {
			continue
		}
		if l.cfg.Mode == ModeCalicoRouted {
			lines = append(lines, fmt.Sprintf("route replace %s via %s dev eth0 proto bird", peer.PodCIDR, peer.IP))
			continue
		}
		lines = append(lines,
			fmt.Sprintf("neigh replace %s lladdr %s dev %s nud permanent", calicoTunnelIP(peer), calicoVTEPMAC(peer), calicoVXLANDevice),
			fmt.Sprintf("route replace %s via %s dev %s onlink proto 80", peer.PodCIDR, calicoTunnelIP(peer), calicoVXLANDevice))
	}
	if err := batch(ctx, n.Netns, lines); err != nil {
		return err
	}
	if l.cfg.Mode == ModeCalicoVXLAN {
		for _, peer := range l.nodes {
			if peer == n {
				continue
			}
			if _, err := nsExec(ctx, n.Netns, "bridge", "fdb", "replace", calicoVTEPMAC(peer), "dev", calicoVXLANDevice,
				"dst", peer.IP.String(), "self", "permanent"); err != nil {
				return err
			}
		}
	}
	// felix's nat-outgoing: pod traffic to anything outside the IP pools leaves masqueraded,
	// and its FORWARD chain accepts traffic from and to workload interfaces.
	if _, err := nsExec(ctx, n.Netns, "ipset", "create", "cali40masq-ipam-pools", "hash:net"); err != nil {
		return err
	}
	if _, err := nsExec(ctx, n.Netns, "ipset", "add", "cali40masq-ipam-pools", clusterCIDR.String()); err != nil {
		return err
	}
	if _, err := nsExec(ctx, n.Netns, "ipset", "create", "cali40all-ipam-pools", "hash:net"); err != nil {
		return err
	}
	if _, err := nsExec(ctx, n.Netns, "ipset", "add", "cali40all-ipam-pools", clusterCIDR.String()); err != nil {
		return err
	}
	rules := `*nat
:cali-POSTROUTING - [0:0]
:cali-nat-outgoing - [0:0]
-A POSTROUTING -m comment --comment "cali:O3lYWMrLQYEMJtB5" -j cali-POSTROUTING
-A cali-POSTROUTING -m comment --comment "cali:Z-c7XtVd2Bq7s_hA" -j cali-nat-outgoing
-A cali-nat-outgoing -m comment --comment "cali:flqWnvo8yq4ULQLa" -m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE --random-fully
COMMIT
*filter
:cali-FORWARD - [0:0]
-A FORWARD -m comment --comment "cali:wUHhoiAYhphO9Mso" -j cali-FORWARD
-A cali-FORWARD -m comment --comment "cali:from-wl" -i cali+ -j ACCEPT
-A cali-FORWARD -m comment --comment "cali:to-wl" -o cali+ -j ACCEPT
COMMIT
`
	return iptablesRestore(ctx, n.Netns, rules)
}

func iptablesRestore(ctx context.Context, ns, rules string) error {
	cmd := []string{"ip", "netns", "exec", ns, "iptables-restore", "--noflush"}
	c := execCommand(ctx, cmd, rules)
	if out, err := c.CombinedOutput(); err != nil {
		return cmdError(cmd, out, err)
	}
	return nil
}

// calicoVethName is the host side of a pod's veth: "cali" and 11 hex digits of a hash of the
// pod, as calico's CNI plugin names it.
func calicoVethName(namespace, name string) string {
	sum := sha1.Sum([]byte(namespace + "." + name))
	return "cali" + hex.EncodeToString(sum[:])[:11]
}

// flannelCNIConfig is the configuration flannel's CNI plugin hands to the bridge plugin,
// built from the node's subnet file exactly as the plugin builds it.
func flannelCNIConfig(n *Node, ipamDir string) ([]byte, error) {
	env, err := readSubnetEnv(filepath.Join(n.dir, "subnet.env"))
	if err != nil {
		return nil, err
	}
	mtu, err := strconv.Atoi(env["FLANNEL_MTU"])
	if err != nil {
		return nil, fmt.Errorf("FLANNEL_MTU of %s: %w", n.Name, err)
	}
	// flannel's plugin hands the bridge plugin the subnet as a network, not the gateway form
	// flanneld writes (10.244.1.1/24).
	subnet, err := netip.ParsePrefix(env["FLANNEL_SUBNET"])
	if err != nil {
		return nil, fmt.Errorf("FLANNEL_SUBNET of %s: %w", n.Name, err)
	}
	conf := map[string]any{
		"cniVersion":       "1.0.0",
		"name":             "cbr0",
		"type":             "bridge",
		"bridge":           "cni0",
		"isGateway":        true,
		"isDefaultGateway": true,
		"hairpinMode":      true,
		"ipMasq":           env["FLANNEL_IPMASQ"] != "true",
		"mtu":              mtu,
		"ipam": map[string]any{
			"type":    "host-local",
			"ranges":  [][]map[string]string{{{"subnet": subnet.Masked().String()}}},
			"routes":  []map[string]string{{"dst": env["FLANNEL_NETWORK"]}},
			"dataDir": ipamDir,
		},
	}
	return json.Marshal(conf)
}
