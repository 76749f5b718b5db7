package iptablestest

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netdiag/netdiag/internal/netnsutil"
	"github.com/netdiag/netdiag/internal/netnsutil/netnstest"
)

// Lab is three network namespaces for differential tests of netfilter rules against the
// kernel: a sender, a router that holds the rules, and a receiver.
//
//	A (sender)   a0 10.10.1.2/24, 10.10.1.3/24, default via 10.10.1.1
//	  |
//	R (router)   r1 10.10.1.1/24   r2 10.10.2.1/24   ip_forward=1
//	  |
//	B (receiver) b0 10.10.2.2/24, 10.10.2.3/24, default via 10.10.2.1
//
// UDP receivers listen on every address of R and B on ports 7001-7004 and report each
// datagram on Recv. The router has the ipsets NDTA (hash:ip) and NDTB (hash:ip,port).
// Everything is removed when the test ends, also when it fails.
type Lab struct {
	A, R, B string
	Recv    chan Delivery
}

// Delivery is one datagram a receiver got.
type Delivery struct {
	NS         string
	Local, Src netip.AddrPort
	Payload    string
	// Conn is the receiving socket, to answer from.
	Conn net.PacketConn
}

// LabSets is what the router's ipsets hold, as `ipset save` would restore them.
const LabSets = "create NDTA hash:ip family inet\nadd NDTA 10.10.2.3\nadd NDTA 10.10.1.3\n" +
	"create NDTB hash:ip,port family inet\nadd NDTB 10.10.2.2,udp:7002\nadd NDTB 10.10.1.1,udp:7001\n"

// Run runs a command and fails the test when it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	return netnstest.Run(t, name, args...)
}

// RunIn runs a command inside a namespace with stdin.
func RunIn(t testing.TB, ns string, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in %s: %s: %v\n%s\ninput:\n%s", ns, strings.Join(args, " "), err, out, stdin)
	}
	return string(out)
}

// NewLab builds the lab with namespaces named prefix-<pid>-a/r/b; it skips the test when
// not root or a tool is missing.
func NewLab(t testing.TB, prefix string, tools ...string) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the kernel test needs root")
	}
	for _, bin := range append([]string{"ip", "ipset", "conntrack"}, tools...) {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("the kernel test needs %s", bin)
		}
	}
	p := fmt.Sprintf("%s-%d-", prefix, os.Getpid())
	l := &Lab{A: p + "a", R: p + "r", B: p + "b", Recv: make(chan Delivery, 64)}
	for _, ns := range []string{l.A, l.R, l.B} {
		Run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		// Before the links: each copies its rp_filter from "default", which a new namespace
		// copies from the root namespace's.
		if err := netnsutil.ResetSysctls(netnsutil.Path(ns)); err != nil {
			t.Fatal(err)
		}
		Run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	Run(t, "ip", "-n", l.A, "link", "add", "a0", "type", "veth", "peer", "name", "r1", "netns", l.R)
	Run(t, "ip", "-n", l.B, "link", "add", "b0", "type", "veth", "peer", "name", "r2", "netns", l.R)
	for _, c := range [][]string{
		{l.A, "addr", "add", "10.10.1.2/24", "dev", "a0"}, {l.A, "addr", "add", "10.10.1.3/24", "dev", "a0"},
		{l.A, "link", "set", "a0", "up"}, {l.A, "route", "add", "default", "via", "10.10.1.1"},
		{l.R, "addr", "add", "10.10.1.1/24", "dev", "r1"}, {l.R, "addr", "add", "10.10.2.1/24", "dev", "r2"},
		{l.R, "link", "set", "r1", "up"}, {l.R, "link", "set", "r2", "up"},
		{l.B, "addr", "add", "10.10.2.2/24", "dev", "b0"}, {l.B, "addr", "add", "10.10.2.3/24", "dev", "b0"},
		{l.B, "link", "set", "b0", "up"}, {l.B, "route", "add", "default", "via", "10.10.2.1"},
	} {
		Run(t, "ip", append([]string{"-n", c[0]}, c[1:]...)...)
	}
	RunIn(t, l.R, "", "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
	RunIn(t, l.R, LabSets, "ipset", "restore")
	for _, rcv := range []struct {
		ns    string
		addrs []string
	}{{l.R, []string{"10.10.1.1", "10.10.2.1"}}, {l.B, []string{"10.10.2.2", "10.10.2.3"}}} {
		for _, a := range rcv.addrs {
			for port := 7001; port <= 7004; port++ {
				conn := InNetns(t, rcv.ns, func() (net.PacketConn, error) { return net.ListenPacket("udp4", fmt.Sprintf("%s:%d", a, port)) })
				t.Cleanup(func() { conn.Close() })
				go func() {
					buf := make([]byte, 256)
					for {
						n, from, err := conn.ReadFrom(buf)
						if err != nil {
							return
						}
						l.Recv <- Delivery{NS: rcv.ns, Local: netip.MustParseAddrPort(conn.LocalAddr().String()),
							Src: from.(*net.UDPAddr).AddrPort(), Payload: string(buf[:n]), Conn: conn}
					}
				}()
			}
		}
	}
	return l
}

// InNetns opens a socket inside a namespace: a socket belongs to the namespace of the
// thread that creates it and stays there.
func InNetns(t testing.TB, ns string, open func() (net.PacketConn, error)) net.PacketConn {
	t.Helper()
	var conn net.PacketConn
	if err := netnsutil.DoNamed(ns, func() error {
		var err error
		conn, err = open()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return conn
}

// Seed is the seed of a differential test: a fixed one by default, so a run that passed
// passes again on the same code; the environment variable set to "random" explores new
// rulesets, set to a number reruns that seed.
func Seed(t testing.TB, envVar string) uint64 {
	t.Helper()
	seed := uint64(20261127)
	switch s := os.Getenv(envVar); s {
	case "":
	case "random":
		seed = uint64(time.Now().UnixNano())
	default:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want a number or \"random\"", envVar, s)
		}
		seed = n
	}
	t.Logf("seed %d (%s=%d reruns it, %s=random tries a new one)", seed, envVar, seed, envVar)
	return seed
}
