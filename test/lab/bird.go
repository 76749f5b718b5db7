package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// calicoAS is the AS number Calico's nodes share by default (one iBGP full mesh).
const calicoAS = 64512

// birdConfig is a node's BIRD 1.6 configuration in Calico's shape: the node's block exported
// to every peer of a full iBGP mesh and installed locally as a blackhole (addresses of the
// block that no pod holds are dropped here, not sent back out), and what the peers export
// installed in the kernel with BIRD's protocol.
func birdConfig(n *Node, nodes []*Node) string {
	var b strings.Builder
	fmt.Fprintf(&b, "router id %s;\n", n.IP)
	b.WriteString("log stderr all;\n")
	b.WriteString("protocol device { scan time 2; }\n")
	b.WriteString("protocol kernel {\n  persist;\n  scan time 2;\n  import none;\n  export all;\n  graceful restart;\n  merge paths on;\n}\n")
	fmt.Fprintf(&b, "protocol static local_block {\n  route %s blackhole;\n}\n", n.PodCIDR.Masked())
	fmt.Fprintf(&b, "template bgp mesh {\n  local as %d;\n  direct;\n  import all;\n  export where proto = \"local_block\";\n"+
		"  next hop self;\n  graceful restart;\n  connect delay time 1;\n  connect retry time 2;\n  error wait time 1,5;\n}\n", calicoAS)
	for _, peer := range nodes {
		if peer == n {
			continue
		}
		fmt.Fprintf(&b, "protocol bgp mesh_%s from mesh {\n  neighbor %s as %d;\n}\n",
			strings.ReplaceAll(peer.Name, "-", "_"), peer.IP, calicoAS)
	}
	return b.String()
}

// startBIRD runs Debian's bird in every node's namespace, then waits until every node has
// BIRD's route to every peer's block.
func (l *Lab) startBIRD(ctx context.Context) error {
	bird, err := execLookPath("bird")
	if err != nil {
		return fmt.Errorf("bird: %w (run hack/install-deps.sh)", err)
	}
	for _, n := range l.nodes {
		conf := filepath.Join(n.dir, "bird.conf")
		if err := os.WriteFile(conf, []byte(birdConfig(n, l.nodes)), 0o644); err != nil {
			return fmt.Errorf("write BIRD config of %s: %w", n.Name, err)
		}
		p, err := startProcess("bird-"+n.Name, n.Netns, l.logPath("bird-"+n.Name),
			[]string{bird, "-f", "-c", conf, "-s", filepath.Join(n.dir, "bird.ctl"), "-P", filepath.Join(n.dir, "bird.pid")},
			startOptions{})
		if err != nil {
			return err
		}
		l.procs.add(p)
	}
	return l.waitPeerRoutes(ctx, "BGP routes", "bird-", []string{"proto", "bird"}, func(peer *Node) string {
		return peer.PodCIDR.Masked().String() + " via " + peer.IP.String()
	})
}

// waitPeerRoutes waits until `ip route show <filter...>` on every node has a line starting
// with want(peer) for every peer; logPrefix names the log (of the node's agent) that says
// why not.
func (l *Lab) waitPeerRoutes(ctx context.Context, what, logPrefix string, filter []string, want func(peer *Node) string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, n := range l.nodes {
		err := waitFor(ctx, what+" on "+n.Name, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
			out, err := run(ctx, append([]string{"ip", "-n", n.Netns, "route", "show"}, filter...)...)
			if err != nil {
				return false, err
			}
			for _, peer := range l.nodes {
				if peer != n && !strings.Contains(string(out), want(peer)) {
					return false, nil
				}
			}
			return true, nil
		})
		if err != nil {
			return fmt.Errorf("%w (see %s)", err, l.logPath(logPrefix+n.Name))
		}
	}
	return nil
}
