package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
)

// cniResult is the part of a CNI ADD result the lab reads.
type cniResult struct {
	IPs []struct {
		Address string `json:"address"`
		Gateway string `json:"gateway"`
	} `json:"ips"`
}

// cni invokes a CNI plugin as a container runtime does: the plugin runs in the node's
// namespace (its "host"), with the operation in the environment and the configuration on
// stdin.
func (l *Lab) cni(ctx context.Context, n *Node, command, plugin, containerID, podNetns, ifname string, conf []byte) (cniResult, error) {
	var res cniResult
	argv := []string{"ip", "netns", "exec", n.Netns, l.bin("cni/" + plugin)}
	cmd := execCommand(ctx, argv, string(conf))
	cmd.Env = append(os.Environ(),
		"CNI_COMMAND="+command,
		"CNI_CONTAINERID="+containerID,
		"CNI_NETNS="+filepath.Join(netnsDir, podNetns),
		"CNI_IFNAME="+ifname,
		"CNI_PATH="+l.bin("cni"),
	)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(interface{ Stderr() []byte }); ok {
			stderr = string(ee.Stderr())
		}
		return res, fmt.Errorf("CNI %s %s for %s: %w: %s %s", plugin, command, podNetns, err, out, stderr)
	}
	if command != "ADD" || len(out) == 0 {
		return res, nil
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return res, fmt.Errorf("decode CNI %s result: %w", plugin, err)
	}
	return res, nil
}

// firstIP is the address of the first IP in a CNI result.
func (r cniResult) firstIP() (netip.Addr, error) {
	if len(r.IPs) == 0 {
		return netip.Addr{}, fmt.Errorf("CNI result has no IP")
	}
	p, err := netip.ParsePrefix(r.IPs[0].Address)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("CNI result IP: %w", err)
	}
	return p.Addr(), nil
}

func loopbackConf() []byte {
	return []byte(`{"cniVersion":"1.0.0","name":"loopback","type":"loopback"}`)
}

// calicoIPAMConf is host-local over the node's pod CIDR, which is how calico's CNI plugin
// allocates with "usePodCidr".
func calicoIPAMConf(n *Node, dataDir string) []byte {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "k8s-pod-network",
		"type":       "calico",
		"ipam": map[string]any{
			"type":    "host-local",
			"ranges":  [][]map[string]string{{{"subnet": n.PodCIDR.String()}}},
			"dataDir": dataDir,
		},
	}
	b, _ := json.Marshal(conf)
	return b
}

// wirePod connects a pod namespace to its node and returns the pod's IP.
func (l *Lab) wirePod(ctx context.Context, n *Node, podNetns, containerID, namespace, name string) (netip.Addr, error) {
	ipamDir := filepath.Join(n.dir, "ipam")
	if _, err := l.cni(ctx, n, "ADD", "loopback", containerID, podNetns, "lo", loopbackConf()); err != nil {
		return netip.Addr{}, err
	}
	if l.cfg.Mode == ModeKindnet {
		return l.wireKindnetPod(ctx, n, podNetns, containerID)
	}
	if l.cfg.Mode.Flannel() {
		conf, err := flannelCNIConfig(n, ipamDir)
		if err != nil {
			return netip.Addr{}, err
		}
		res, err := l.cni(ctx, n, "ADD", "bridge", containerID, podNetns, "eth0", conf)
		if err != nil {
			return netip.Addr{}, err
		}
		return res.firstIP()
	}
	res, err := l.cni(ctx, n, "ADD", "host-local", containerID, podNetns, "eth0", calicoIPAMConf(n, ipamDir))
	if err != nil {
		return netip.Addr{}, err
	}
	ip, err := res.firstIP()
	if err != nil {
		return ip, err
	}
	host := calicoVethName(namespace, name)
	mtu := 1500
	if l.cfg.Mode == ModeCalicoVXLAN {
		mtu = calicoVXLANMTU
	}
	if l.cfg.Mode == ModeCanal {
		if mtu, err = canalPodMTU(n); err != nil {
			return ip, err
		}
	}
	// What calico's CNI plugin does: a veth with the host side unnumbered and answering ARP for
	// everything (proxy ARP), the pod's /32 routed to it, and the pod's default route via the
	// link-local 169.254.1.1 that only exists as that ARP answer.
	if err := ipn(ctx, n.Netns, "link", "add", host, "mtu", fmt.Sprint(mtu), "address", "ee:ee:ee:ee:ee:ee",
		"type", "veth", "peer", "name", "eth0", "mtu", fmt.Sprint(mtu), "netns", podNetns); err != nil {
		return ip, err
	}
	if err := sysctl(n.Netns, "net/ipv4/conf/"+host+"/proxy_arp", "1", "net/ipv4/neigh/"+host+"/proxy_delay", "0",
		"net/ipv4/conf/"+host+"/forwarding", "1"); err != nil {
		return ip, err
	}
	if err := batch(ctx, n.Netns, []string{
		"link set " + host + " up",
		fmt.Sprintf("route replace %s/32 dev %s scope link", ip, host),
	}); err != nil {
		return ip, err
	}
	return ip, batch(ctx, podNetns, []string{
		fmt.Sprintf("addr add %s/32 dev eth0", ip),
		"link set eth0 up",
		fmt.Sprintf("route add %s dev eth0 scope link", calicoGateway),
		fmt.Sprintf("route add default via %s dev eth0", calicoGateway),
	})
}

// unwirePod releases the pod's address and removes its namespace (and with it the veth and,
// in calico modes, the host route).
func (l *Lab) unwirePod(ctx context.Context, n *Node, podNetns, containerID string) error {
	ipamDir := filepath.Join(n.dir, "ipam")
	var err error
	switch {
	case l.cfg.Mode == ModeKindnet:
		err = l.unwireKindnetPod(ctx, n, podNetns, containerID)
	case l.cfg.Mode.Flannel():
		var conf []byte
		if conf, err = flannelCNIConfig(n, ipamDir); err == nil {
			_, err = l.cni(ctx, n, "DEL", "bridge", containerID, podNetns, "eth0", conf)
		}
	default:
		_, err = l.cni(ctx, n, "DEL", "host-local", containerID, podNetns, "eth0", calicoIPAMConf(n, ipamDir))
	}
	if _, delErr := run(ctx, "ip", "netns", "del", podNetns); delErr != nil && err == nil {
		err = delErr
	}
	return err
}
