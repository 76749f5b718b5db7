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

// Calico's constants, as its CNI plugin and felix use them.
const (
	calicoGateway = "169.254.1.1"
	// calicoVXLANMTU leaves room for the vxlan header, as felix's auto-detected MTU does on
	// 1500.
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
	case l.cfg.Mode == ModeCanal:
		return l.startCanal(ctx)
	case l.cfg.Mode.Flannel():
		return l.startFlannel(ctx)
	case l.cfg.Mode.Calico():
		return l.startCalico(ctx)
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

// startCalico runs what calico-node runs on every node, from the real parts: Calico's CRDs
// and cluster objects, felix per node (routes to local pods, vxlan.calico and its peers'
// routes, fdb and neighbours in vxlan mode, the nat-outgoing masquerade, the policy chains),
// and in routed mode BIRD per node peering in a full mesh, whose routes carry each block to
// its node.
func (l *Lab) startCalico(ctx context.Context) error {
	vxlan := l.cfg.Mode == ModeCalicoVXLAN
	if err := l.installCalico(ctx, vxlan); err != nil {
		return err
	}
	opt := felixOptions{dataplane: l.cfg.FelixDataplane}
	for _, n := range l.nodes {
		if err := l.annotateCalicoNode(ctx, n, vxlan); err != nil {
			return err
		}
	}
	for _, n := range l.nodes {
		if err := l.startFelix(n, opt); err != nil {
			return err
		}
	}
	for _, n := range l.nodes {
		if err := l.waitFelix(ctx, n, opt); err != nil {
			return err
		}
	}
	if vxlan {
		return l.waitCalicoVXLAN(ctx)
	}
	return l.startBIRD(ctx)
}

// waitCalicoVXLAN waits until felix has routed every peer's block through vxlan.calico.
func (l *Lab) waitCalicoVXLAN(ctx context.Context) error {
	return l.waitPeerRoutes(ctx, "vxlan routes", "felix-", []string{"dev", "vxlan.calico"}, func(peer *Node) string {
		return peer.PodCIDR.Masked().String() + " via " + calicoTunnelIP(peer).String()
	})
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
