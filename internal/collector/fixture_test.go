package collector

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/netdiag/netdiag/internal/netnsutil"
	"github.com/netdiag/netdiag/internal/netnsutil/netnstest"
)

// Every namespace a test makes starts with this, so that a stray one is easy to find.
const nsPrefix = "ndt-coll-"

var nsSeq atomic.Int32

// newNetNS makes a network namespace with `ip netns add` (so it is bind-mounted under
// /var/run/netns like a runtime's) and deletes it when the test ends, failed or not.
func newNetNS(tb testing.TB, role string) (name, path string) {
	tb.Helper()
	name = fmt.Sprintf("%s%d-%d-%s", nsPrefix, os.Getpid(), nsSeq.Add(1), role)
	sh(tb, "ip", "netns", "add", name)
	tb.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	// The kernel copies forwarding, rp_filter and the like from the root namespace: start
	// from its own defaults, whatever this machine's are, so the tests see what they set.
	// The values a Docker or Kubernetes host hands every new namespace are written first,
	// so that every run shows the reset, not this machine, decides where the tests start.
	nsExec(tb, name, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward; "+
		"for c in all default lo; do for k in rp_filter arp_ignore route_localnet accept_local proxy_arp; do "+
		"echo 1 > /proc/sys/net/ipv4/conf/$c/$k; done; done")
	if err := netnsutil.ResetSysctls(netnsutil.Path(name)); err != nil {
		tb.Fatal(err)
	}
	// IPv6 off keeps the link-local routes and addresses out of the expectations.
	nsExec(tb, name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	ipn(tb, name, "link set lo up")
	return name, "/var/run/netns/" + name
}

func requireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root to make network namespaces")
	}
}

// sh runs a command and fails the test if it fails.
func sh(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	return netnstest.Run(tb, name, args...)
}

// ipn runs `ip -n ns <args>`.
func ipn(tb testing.TB, ns, args string) string {
	tb.Helper()
	return sh(tb, "ip", append([]string{"-n", ns}, strings.Fields(args)...)...)
}

func nsExec(tb testing.TB, ns string, args ...string) string {
	tb.Helper()
	return sh(tb, "ip", append([]string{"netns", "exec", ns}, args...)...)
}

func nsExecStdin(tb testing.TB, ns string, stdin io.Reader, args ...string) {
	tb.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Stdin = stdin
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// listenIn opens a TCP listener or a UDP socket inside a namespace, closed at the end.
func listenIn(tb testing.TB, path, network, addr string) {
	tb.Helper()
	err := netnsutil.Do(path, func() error {
		var c io.Closer
		var err error
		if strings.HasPrefix(network, "udp") {
			c, err = net.ListenPacket(network, addr)
		} else {
			c, err = net.Listen(network, addr)
		}
		if err == nil {
			tb.Cleanup(func() { _ = c.Close() })
		}
		return err
	})
	if err != nil {
		tb.Fatalf("listen %s %s in %s: %v", network, addr, path, err)
	}
}

// node is a node namespace with one pod namespace wired to it by a veth pair.
type node struct {
	name, path       string
	podName, podPath string
}

// Addresses of the fixture (10.231.0.0/16 and 192.168.231.0/24 are not used elsewhere).
const (
	podIP      = "10.231.9.5"
	underlayIP = "192.168.231.2"
	bridgeIP   = "10.231.1.1"
	vtepIP     = "10.231.2.0"
)

// makeNode builds a node namespace with links of every kind this kernel has (veth, bridge,
// vxlan), routes of several types in three tables, policy rules, permanent neighbours, vxlan
// fdb entries, sysctls, an iptables rule, an nftables table, an ipset, and a pod namespace
// reached through a veth pair, calico-style.
func makeNode(tb testing.TB) node {
	tb.Helper()
	requireRoot(tb)
	n := node{}
	n.name, n.path = newNetNS(tb, "node")
	n.podName, n.podPath = newNetNS(tb, "pod")
	for _, cmd := range []string{
		// Underlay.
		"link add eth0 address 02:00:00:00:00:02 type veth peer name eth0-peer address 02:00:00:00:00:fe",
		"addr add " + underlayIP + "/24 dev eth0",
		"link set eth0 up",
		"link set eth0-peer up",
		// A bridge with one port.
		"link add br0 address 02:00:00:00:0b:01 mtu 1500 type bridge",
		"addr add " + bridgeIP + "/24 dev br0",
		"link add vbr-a address 02:00:00:00:0b:0a type veth peer name vbr-b address 02:00:00:00:0b:0b",
		"link set vbr-a master br0",
		"link set br0 up",
		// A vxlan overlay without learning, flannel-style.
		"link add vxlan0 address 02:00:00:00:42:00 mtu 1450 type vxlan id 42 dstport 4789 local " + underlayIP + " dev eth0 nolearning",
		"addr add " + vtepIP + "/32 dev vxlan0",
		"link set vxlan0 up",
		"neigh add 10.231.2.3 lladdr 02:00:00:00:42:03 dev vxlan0 nud permanent",
		"neigh add 192.168.231.9 lladdr 02:00:00:00:00:09 dev eth0 nud permanent",
		// The pod's veth.
		"link add veth-pod address 02:00:00:00:09:01 type veth peer name eth0 netns " + n.podName + " address 02:00:00:00:09:05",
		"link set veth-pod up",
		// Routes of several types and tables.
		"route add default via 192.168.231.1 dev eth0",
		"route add " + podIP + "/32 dev veth-pod scope link",
		"route add 10.231.3.0/24 via 10.231.2.3 dev vxlan0 onlink",
		"route add blackhole 10.231.66.0/24",
		"route add unreachable 10.231.67.0/24",
		"route add prohibit 10.231.68.0/24 table 100",
		"route add default via 192.168.231.1 dev eth0 metric 10 table 100",
		"route add throw 10.231.0.0/16 table 200",
		"route add 10.231.70.0/24 table 200 nexthop via 192.168.231.3 dev eth0 weight 1 nexthop via 192.168.231.4 dev eth0 weight 2",
		"route add 10.231.71.0/24 via 192.168.231.5 dev eth0 src " + underlayIP + " proto static mtu 1400 table 200",
		// Policy rules.
		"rule add from 10.231.9.0/24 lookup 100 pref 100",
		"rule add fwmark 0x10/0xff lookup 200 pref 200",
		"rule add to 10.231.80.0/24 prohibit pref 300",
		"rule add ipproto tcp dport 80-90 lookup 200 pref 400",
		"rule add not from 10.231.0.0/16 iif eth0 goto 32766 pref 500",
	} {
		ipn(tb, n.name, cmd)
	}
	sh(tb, "bridge", "-n", n.name, "fdb", "append", "00:00:00:00:00:00", "dev", "vxlan0", "dst", "192.168.231.3", "self", "permanent")
	sh(tb, "bridge", "-n", n.name, "fdb", "add", "02:00:00:00:42:03", "dev", "vxlan0", "dst", "192.168.231.3", "self", "permanent")
	nsExec(tb, n.name, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.veth-pod.proxy_arp=1", "net.ipv4.conf.all.rp_filter=2", "net.ipv4.conf.eth0.route_localnet=1", "net.ipv4.conf.eth0.arp_ignore=1", "net.ipv4.conf.all.arp_ignore=0",
		"net.ipv4.ip_local_port_range=32768 60999")
	nsExec(tb, n.name, "iptables", "-A", "FORWARD", "-s", podIP+"/32", "-p", "tcp", "--dport", "5432", "-j", "DROP")
	nsExec(tb, n.name, "nft", "add table inet ndtest; add chain inet ndtest input { type filter hook input priority 0; }; add rule inet ndtest input tcp dport 22 drop")
	nsExec(tb, n.name, "ipset", "create", "ndtest", "hash:ip")
	nsExec(tb, n.name, "ipset", "add", "ndtest", podIP)

	for _, cmd := range []string{
		"addr add " + podIP + "/32 dev eth0",
		"link set eth0 up",
		"route add 169.254.1.1 dev eth0 scope link",
		"route add default via 169.254.1.1 dev eth0",
		"neigh add 169.254.1.1 lladdr 02:00:00:00:09:01 dev eth0 nud permanent",
	} {
		ipn(tb, n.podName, cmd)
	}
	listenIn(tb, n.path, "tcp4", bridgeIP+":8080")
	listenIn(tb, n.path, "udp4", "0.0.0.0:5353")
	listenIn(tb, n.podPath, "tcp4", "0.0.0.0:80")
	return n
}
