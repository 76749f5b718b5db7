package lab

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
)

// ModeCanal runs what the canal DaemonSet runs, from the real parts: flanneld with the vxlan
// backend between the nodes (flannel.1, its routes, fdb and masquerade), and felix in
// policy-only mode (no BIRD, no tunnel of its own: the pool neither encapsulates nor is
// routed by felix) programming the cali-* chains of pods wired as calico's CNI plugin wires
// them, /32 cali veths with proxy ARP, at flannel's MTU.
const ModeCanal Mode = "canal"

// startCanal starts flanneld on every node, then Calico's objects and felix.
func (l *Lab) startCanal(ctx context.Context) error {
	if err := l.startFlannel(ctx); err != nil {
		return err
	}
	if err := l.installCalico(ctx, false); err != nil {
		return err
	}
	// Canal's calico-node runs with CALICO_NETWORKING_BACKEND=none: felix alone.
	opt := felixOptions{dataplane: l.cfg.FelixDataplane, env: []string{
		"FELIX_IPINIPENABLED=false", "FELIX_VXLANENABLED=false", "FELIX_IPTABLESREFRESHINTERVAL=60",
	}}
	for _, n := range l.nodes {
		if err := l.annotateCalicoNode(ctx, n, false); err != nil {
			return err
		}
		if err := l.startFelix(n, opt); err != nil {
			return err
		}
	}
	for _, n := range l.nodes {
		if err := l.waitFelix(ctx, n, opt); err != nil {
			return err
		}
	}
	return nil
}

// canalPodMTU is the MTU of a canal pod's veth: flannel's, from the node's subnet file, as
// canal's CNI configuration takes it.
func canalPodMTU(n *Node) (int, error) {
	env, err := readSubnetEnv(filepath.Join(n.dir, "subnet.env"))
	if err != nil {
		return 0, err
	}
	mtu, err := strconv.Atoi(env["FLANNEL_MTU"])
	if err != nil {
		return 0, fmt.Errorf("FLANNEL_MTU of %s: %w", n.Name, err)
	}
	return mtu, nil
}
