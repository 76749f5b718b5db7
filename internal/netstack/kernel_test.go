package netstack

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netdiag/netdiag/internal/netnsutil"
)

// TestLookupRouteAgainstKernel builds random link sets, addresses, routes, rules and
// sysctls in a network namespace, reads the state back from `ip -j` into a Netstack and
// compares LookupRoute with `ip route get` for hundreds of queries per seed. It needs
// root and iproute2; NETDIAG_ROUTE_SEEDS (e.g. "1-40" or "7,9") picks the seeds.
func TestLookupRouteAgainstKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("talks to the kernel")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
	seeds := parseSeeds(t, cmpOr(os.Getenv("NETDIAG_ROUTE_SEEDS"), "1-12"))
	queries := 300
	if s := os.Getenv("NETDIAG_ROUTE_QUERIES"); s != "" {
		queries, _ = strconv.Atoi(s)
	}
	deadline := time.Now().Add(4 * time.Minute)
	total := 0
	for _, seed := range seeds {
		if time.Now().After(deadline) {
			t.Logf("time budget spent after %d queries; remaining seeds skipped", total)
			break
		}
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			total += runKernelSeed(t, seed, queries)
		})
	}
	t.Logf("compared %d queries with the kernel; outcomes: %v", total, kernelOutcomes)
}

// kernelOutcomes counts the kernel's answers by kind, to show what the comparison covered.
var kernelOutcomes = map[string]int{}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func parseSeeds(t *testing.T, s string) []uint64 {
	var out []uint64
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(strings.TrimSpace(lo), 10, 64)
		if err != nil {
			t.Fatalf("seed %q: %v", part, err)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(strings.TrimSpace(hi), 10, 64); err != nil {
				t.Fatalf("seed %q: %v", part, err)
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out
}

// kns is a test namespace with its peer namespace (the far ends of the veths).
type kns struct {
	t          *testing.T
	name, peer string
	log        []string
}

func newKNS(t *testing.T, seed uint64) *kns {
	k := &kns{t: t, name: fmt.Sprintf("ndt-route-%d-%d", os.Getpid(), seed)}
	k.peer = k.name + "-p"
	for _, n := range []string{k.name, k.peer} {
		if out, err := exec.Command("ip", "netns", "add", n).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v: %s", n, err, out)
		}
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", n).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v: %s", n, err, out)
			}
		})
		// The kernel's defaults, not the root namespace's, which a new namespace copies.
		if err := netnsutil.ResetSysctls(netnsutil.Path(n)); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// batch runs ip commands in the namespace, continuing past the ones the kernel refuses (a
// random gateway may not be reachable): the state is read back afterwards anyway.
func (k *kns) batch(ns string, cmds []string) {
	k.log = append(k.log, cmds...)
	cmd := exec.Command("ip", "-n", ns, "-force", "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	_ = cmd.Run() // refused commands are expected and only logged on failure
}

// settle waits until every veth's operational state agrees with its own and its peer's
// admin state: the kernel applies carrier changes (and the "linkdown" of their routes)
// asynchronously, up to a second later.
func (k *kns) settle(nveth int) {
	type link struct {
		Name      string   `json:"ifname"`
		Flags     []string `json:"flags"`
		OperState string   `json:"operstate"`
		Master    string   `json:"master"`
	}
	read := func(ns string) map[string]link {
		out, err := exec.Command("ip", "-n", ns, "-j", "link", "show").Output()
		if err != nil {
			k.t.Fatalf("ip -n %s link: %v", ns, err)
		}
		var ls []link
		if err := json.Unmarshal(out, &ls); err != nil {
			k.t.Fatal(err)
		}
		m := map[string]link{}
		for _, l := range ls {
			m[l.Name] = l
		}
		return m
	}
	for range 50 {
		mine, peers := read(k.name), read(k.peer)
		settled := true
		for i := range nveth {
			v, p := mine[fmt.Sprintf("v%d", i)], peers[fmt.Sprintf("p%d", i)]
			vUp, pUp := slices.Contains(v.Flags, "UP"), slices.Contains(p.Flags, "UP")
			// Up with its peer up means carrier; otherwise the veth must show it has none.
			if (vUp && pUp) != (v.OperState == "UP") || (vUp && !pUp && !slices.Contains(v.Flags, "NO-CARRIER")) {
				settled = false
			}
		}
		// The bridge has carrier when a port has, or (on this kernel) when it has no port.
		br, v1 := mine["br0"], mine["v1"]
		brCarrier := v1.Master != "br0" || v1.OperState == "UP"
		if brCarrier == slices.Contains(br.Flags, "NO-CARRIER") {
			settled = false
		}
		if settled {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	k.t.Fatalf("links in %s did not settle: %v / %v", k.name, read(k.name), read(k.peer))
}

func (k *kns) sh(script string) []byte {
	out, err := exec.Command("ip", "netns", "exec", k.name, "sh", "-c", script).Output()
	if err != nil {
		k.t.Fatalf("in %s: %s: %v", k.name, script, err)
	}
	return out
}

func (k *kns) ipJSON(args ...string) []byte {
	out, err := exec.Command("ip", append([]string{"-n", k.name, "-j"}, args...)...).Output()
	if err != nil {
		k.t.Fatalf("ip %v: %v", args, err)
	}
	return out
}

// gen draws the random state of one seed.
type gen struct {
	r       *rand.Rand
	devs    []string // devices in the test namespace that can hold addresses and routes
	addrs   []netip.Prefix
	marks   []uint32
	prefs   []int
	prefixs []netip.Prefix
}

func (g *gen) pick(n int) int        { return g.r.IntN(n) }
func (g *gen) chance(p float64) bool { return g.r.Float64() < p }
func (g *gen) dev() string           { return g.devs[g.pick(len(g.devs))] }
func pickOf[T any](g *gen, xs []T) T { return xs[g.pick(len(xs))] }
func (g *gen) addrIn(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := 32 - p.Bits()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	if host > 0 {
		v |= g.r.Uint32() & (1<<host - 1)
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// prefix draws from a small space (10.0.0.0/12) so that routes, addresses and queries overlap.
func (g *gen) prefix() netip.Prefix {
	bits := pickOf(g, []int{8, 12, 16, 16, 20, 24, 24, 24, 26, 28, 30, 32})
	a := g.addrIn(netip.MustParsePrefix("10.0.0.0/12"))
	return netip.PrefixFrom(a, bits).Masked()
}

func runKernelSeed(t *testing.T, seed uint64, nq int) int {
	k := newKNS(t, seed)
	g := &gen{r: rand.New(rand.NewPCG(seed, 0x6e6574646961))}
	var cmds, peerCmds []string
	cmds = append(cmds, "link set lo up")
	nveth := 2 + g.pick(4)
	for i := range nveth {
		v, p := fmt.Sprintf("v%d", i), fmt.Sprintf("p%d", i)
		cmds = append(cmds, fmt.Sprintf("link add %s type veth peer name %s netns %s", v, p, k.peer), "link set "+v+" up")
		peerCmds = append(peerCmds, "link set "+p+" up")
		g.devs = append(g.devs, v)
	}
	cmds = append(cmds, "link add br0 type bridge", "link set br0 up")
	g.devs = append(g.devs, "br0")
	if g.chance(0.5) {
		cmds = append(cmds, "link set v1 master br0")
	}
	k.batch(k.name, cmds)
	k.batch(k.peer, peerCmds)

	// Addresses: some devices get one or two subnets, some a second address in a subnet
	// (a secondary).
	cmds = nil
	for _, d := range g.devs {
		for range g.pick(3) {
			p := netip.PrefixFrom(g.prefix().Addr(), 16+g.pick(14))
			a := netip.PrefixFrom(g.addrIn(p.Masked()), p.Bits())
			g.addrs = append(g.addrs, a)
			cmds = append(cmds, fmt.Sprintf("addr add %s dev %s", a, d))
			if g.chance(0.2) {
				b := netip.PrefixFrom(g.addrIn(a.Masked()), a.Bits())
				g.addrs = append(g.addrs, b)
				cmds = append(cmds, fmt.Sprintf("addr add %s dev %s", b, d))
			}
		}
	}
	if len(g.addrs) > 0 {
		cmds = append(cmds, fmt.Sprintf("link add vx0 type vxlan id 42 dstport 4789 local %s dev v0", g.addrs[0].Addr()))
		if g.chance(0.7) {
			cmds = append(cmds, "link set vx0 up", fmt.Sprintf("addr add %s dev vx0", netip.PrefixFrom(g.addrIn(g.prefix()), 24)))
			g.devs = append(g.devs, "vx0")
		}
	}
	k.batch(k.name, cmds)

	// Routes in several tables, of every type, with metrics, onlink gateways and multipath.
	cmds = nil
	tables := []string{"main", "main", "10", "20", "30"}
	gw := func() netip.Addr {
		if len(g.addrs) == 0 || g.chance(0.2) {
			return g.addrIn(g.prefix())
		}
		return g.addrIn(pickOf(g, g.addrs).Masked())
	}
	for range 25 + g.pick(40) {
		p := g.prefix()
		if g.chance(0.08) {
			p = netip.MustParsePrefix("0.0.0.0/0")
		}
		g.prefixs = append(g.prefixs, p)
		tbl := pickOf(g, tables)
		metric := ""
		if g.chance(0.5) {
			metric = " metric " + strconv.Itoa(pickOf(g, []int{0, 5, 10, 100, 1024}))
		}
		// Options go before the body: ip reads everything after "nexthop" as next hops.
		head := fmt.Sprintf("route add table %s%s", tbl, metric)
		var body string
		unicast := false
		switch x := g.r.Float64(); {
		case x < 0.12:
			body = fmt.Sprintf("blackhole %s", p)
		case x < 0.20:
			body = fmt.Sprintf("unreachable %s", p)
		case x < 0.26:
			body = fmt.Sprintf("prohibit %s", p)
		case x < 0.34:
			body = fmt.Sprintf("throw %s", p)
		case x < 0.55:
			body, unicast = fmt.Sprintf("%s dev %s", p, g.dev()), true
		case x < 0.65:
			body, unicast = fmt.Sprintf("%s via %s dev %s onlink", p, gw(), g.dev()), true
		case x < 0.74:
			body = fmt.Sprintf("%s nexthop via %s nexthop via %s", p, gw(), gw())
		default:
			body, unicast = fmt.Sprintf("%s via %s", p, gw()), true
		}
		if unicast && g.chance(0.1) && len(g.addrs) > 0 {
			head += " src " + pickOf(g, g.addrs).Addr().String()
		}
		cmds = append(cmds, head+" "+body)
	}
	k.batch(k.name, cmds)

	// Policy rules (some seeds keep the kernel's defaults).
	cmds = nil
	nrules := 0
	if g.chance(0.85) {
		nrules = 3 + g.pick(12)
	}
	for range nrules {
		pref := 1 + g.pick(32000)
		if len(g.prefs) > 0 && g.chance(0.1) {
			pref = pickOf(g, g.prefs)
		}
		g.prefs = append(g.prefs, pref)
		var sel []string
		if g.chance(0.1) {
			sel = append(sel, "not")
		}
		if g.chance(0.25) {
			sel = append(sel, "from "+g.prefix().String())
		}
		if g.chance(0.25) {
			sel = append(sel, "to "+g.prefix().String())
		}
		if g.chance(0.2) {
			sel = append(sel, "iif "+pickOf(g, append([]string{"lo", "lo"}, g.devs...)))
		}
		if g.chance(0.05) {
			sel = append(sel, "oif "+g.dev())
		}
		if g.chance(0.25) {
			m := uint32(1 + g.pick(0x40))
			g.marks = append(g.marks, m)
			if g.chance(0.5) {
				sel = append(sel, fmt.Sprintf("fwmark 0x%x/0x%x", m, pickOf(g, []uint32{0xff, 0xf0, 0x0f, 0x3})))
			} else {
				sel = append(sel, fmt.Sprintf("fwmark 0x%x", m))
			}
		}
		if g.chance(0.07) {
			sel = append(sel, "ipproto tcp dport "+pickOf(g, []string{"80", "80-90", "443"}))
		}
		if g.chance(0.04) {
			sel = append(sel, "tos 0x10")
		}
		var act string
		switch x := g.r.Float64(); {
		case x < 0.6:
			act = "lookup " + pickOf(g, []string{"10", "20", "30", "main", "10"})
			if g.chance(0.25) {
				act += " suppress_prefixlength " + strconv.Itoa(pickOf(g, []int{0, 0, 8, 16, 24}))
			}
		case x < 0.72:
			target := pref + 1 + g.pick(3000)
			if len(g.prefs) > 1 && g.chance(0.6) {
				target = max(pickOf(g, g.prefs), pref+1)
			}
			act = fmt.Sprintf("goto %d", target)
		case x < 0.78:
			act = "nop"
		default:
			act = pickOf(g, []string{"blackhole", "unreachable", "prohibit"})
		}
		cmds = append(cmds, fmt.Sprintf("rule add pref %d %s %s", pref, strings.Join(sel, " "), act))
	}
	k.batch(k.name, cmds)

	// Sysctls: forwarding, rp_filter, ignore_routes_with_linkdown, accept_local per device;
	// set before the links change, as at boot: the kernel weighs multipath next hops
	// without carrier when the link changes, not when the sysctl does.
	var sets []string
	set := func(dev, key string, v int) {
		sets = append(sets, fmt.Sprintf("echo %d > /proc/sys/net/ipv4/conf/%s/%s", v, dev, key))
	}
	// Written either way: a new namespace copies ip_forward from the root namespace.
	forward := 0
	if g.chance(0.7) {
		forward = 1
	}
	sets = append(sets, fmt.Sprintf("echo %d > /proc/sys/net/ipv4/ip_forward", forward))
	set("all", "rp_filter", pickOf(g, []int{0, 0, 1, 2}))
	for _, d := range g.devs {
		if g.chance(0.2) {
			set(d, "forwarding", g.pick(2))
		}
		if g.chance(0.3) {
			set(d, "rp_filter", g.pick(3))
		}
		if g.chance(0.3) {
			set(d, "ignore_routes_with_linkdown", 1)
		}
		if g.chance(0.05) {
			set(d, "accept_local", 1)
		}
	}
	k.log = append(k.log, sets...)
	k.sh(strings.Join(sets, "; ") + "; true")

	// Link state after the routes: an admin-down device loses its routes (a multipath
	// route keeps a dead next hop), a veth whose peer is down loses its carrier and its
	// routes turn "linkdown".
	cmds, peerCmds = nil, nil
	for i := range nveth {
		if g.chance(0.3) {
			peerCmds = append(peerCmds, fmt.Sprintf("link set p%d down", i))
		}
	}
	if g.chance(0.3) {
		cmds = append(cmds, fmt.Sprintf("link set v%d down", g.pick(nveth)))
	}
	k.batch(k.peer, peerCmds)
	k.batch(k.name, cmds)
	k.settle(nveth)

	// Read the state back.
	var devs []string
	var links []ipLink
	addrJSON := k.ipJSON("-d", "addr", "show")
	if err := json.Unmarshal(addrJSON, &links); err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		devs = append(devs, l.Name)
	}
	keys := []string{"forwarding", "rp_filter", "ignore_routes_with_linkdown", "accept_local", "route_localnet",
		"src_valid_mark", "send_redirects", "bc_forwarding"}
	script := "cd /proc/sys/net/ipv4 && echo ipv4/ip_forward=$(cat ip_forward)"
	for _, d := range append([]string{"all"}, devs...) {
		for _, key := range keys {
			script += fmt.Sprintf("; echo ipv4/conf/%s/%s=$(cat conf/%s/%s)", d, key, d, key)
		}
	}
	sysctls := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(k.sh(script))), "\n") {
		key, val, _ := strings.Cut(line, "=")
		sysctls[key] = val
	}
	ns, err := netstackFromIP(addrJSON, k.ipJSON("-4", "route", "show", "table", "all"), k.ipJSON("-4", "rule", "show"), sysctls)
	if err != nil {
		t.Fatal(err)
	}

	// Queries.
	var local []netip.Addr
	for _, ifc := range ns.Interfaces {
		for _, p := range ifc.Addresses {
			local = append(local, p.Addr())
		}
	}
	randAddr := func() netip.Addr {
		switch x := g.r.Float64(); {
		case x < 0.35 && len(g.prefixs) > 0:
			return g.addrIn(pickOf(g, g.prefixs))
		case x < 0.5 && len(local) > 0:
			return pickOf(g, local)
		case x < 0.6 && len(g.addrs) > 0:
			p := pickOf(g, g.addrs).Masked()
			return g.addrIn(netip.PrefixFrom(p.Addr(), p.Bits()))
		case x < 0.63 && len(g.addrs) > 0:
			return lastAddr(pickOf(g, g.addrs))
		case x < 0.65:
			return pickOf(g, []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.3.2.1"),
				netip.MustParseAddr("255.255.255.255"), netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("0.1.2.3"),
				netip.MustParseAddr("224.0.0.5"), netip.MustParseAddr("239.1.1.1")})
		case x < 0.72:
			return g.addrIn(netip.MustParsePrefix("192.0.2.0/24"))
		}
		return g.addrIn(g.prefix())
	}
	failures := 0
	for qi := range nq {
		q := RouteQuery{Dst: randAddr()}
		if g.chance(0.5) {
			// Input path: a packet arriving on a device.
			q.IIF = pickOf(g, devs)
			q.Src = randAddr()
		} else {
			if g.chance(0.3) && len(local) > 0 {
				q.Src = pickOf(g, local)
			} else if g.chance(0.05) {
				q.Src = randAddr()
			}
			if g.chance(0.06) {
				q.OIF = pickOf(g, devs)
			}
		}
		if len(g.marks) > 0 && g.chance(0.3) {
			q.Mark = pickOf(g, g.marks)
			if g.chance(0.3) {
				q.Mark |= uint32(g.pick(4)) << 8
			}
		}
		if g.chance(0.1) {
			q.IPProto, q.DPort, q.SPort = 6, uint16(pickOf(g, []int{80, 85, 443, 22})), 40000
		}
		if g.chance(0.05) {
			q.TOS = 0x10
		}
		want := kernelRouteGet(t, k.name, q)
		got := ns.LookupRoute(q)
		outcome := got.Type
		switch {
		case want.errno != 0:
			outcome = "error " + want.errno.Error()
		case len(got.NextHops) > 1:
			outcome = "multipath"
		case q.IIF != "" && got.Type == RouteUnicast:
			outcome = "forwarded"
		}
		kernelOutcomes[outcome]++
		if diff := compareWithKernel(want, got, q); diff != "" {
			failures++
			if failures <= 5 {
				t.Errorf("seed %d query %d: ip route get %s\n  kernel: %s\n  netdiag: %s type=%s dev=%s via=%s src=%s table=%d reject=%s errno=%d\n  trace: %s",
					seed, qi, q, want.raw, diff, got.Type, got.Device, got.Gateway, got.Src, got.Table, got.Reject, int(got.Errno), strings.Join(got.Trace, "; "))
			}
		}
	}
	if failures > 0 {
		dump, _ := json.MarshalIndent(ns, "", " ")
		path := fmt.Sprintf("%s/ndt-route-seed-%d.json", os.TempDir(), seed)
		if err := os.WriteFile(path, dump, 0o644); err != nil {
			t.Log(err)
		}
		t.Errorf("seed %d: %d of %d queries diverge; snapshot in %s; commands:\n%s", seed, failures, nq, path, strings.Join(k.log, "\n"))
	}
	return nq
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= 1<<(32-p.Bits()) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// kernelAnswer is what `ip -j route get` printed, or the error it reported.
type kernelAnswer struct {
	errno syscall.Errno
	route ipRoute
	raw   string
}

var errnoByText = func() map[string]syscall.Errno {
	m := map[string]syscall.Errno{}
	for _, e := range []syscall.Errno{syscall.ENETUNREACH, syscall.EHOSTUNREACH, syscall.EACCES, syscall.EINVAL,
		syscall.EXDEV, syscall.ENODEV, syscall.EPERM, syscall.ENOENT} {
		m[strings.ToLower(e.Error())] = e
	}
	return m
}()

func kernelRouteGet(t *testing.T, ns string, q RouteQuery) kernelAnswer {
	args := []string{"-n", ns, "-j", "route", "get", q.Dst.String()}
	if q.Src.IsValid() {
		args = append(args, "from", q.Src.String())
	}
	if q.IIF != "" {
		args = append(args, "iif", q.IIF)
	}
	if q.OIF != "" {
		args = append(args, "oif", q.OIF)
	}
	if q.Mark != 0 {
		args = append(args, "mark", fmt.Sprintf("0x%x", q.Mark))
	}
	if q.TOS != 0 {
		args = append(args, "tos", fmt.Sprintf("0x%x", q.TOS))
	}
	if q.IPProto != 0 {
		args = append(args, "ipproto", strconv.Itoa(q.IPProto), "sport", strconv.Itoa(int(q.SPort)), "dport", strconv.Itoa(int(q.DPort)))
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	ans := kernelAnswer{raw: strings.TrimSpace(stdout.String() + " " + stderr.String())}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("ip %v: %v", args, err)
		}
		msg := strings.TrimSpace(stderr.String())
		msg = strings.TrimPrefix(msg, "RTNETLINK answers: ")
		e, ok := errnoByText[strings.ToLower(msg)]
		if !ok {
			t.Fatalf("ip %v: unknown answer %q", args, stderr.String())
		}
		ans.errno = e
		return ans
	}
	var rs []ipRoute
	if err := json.Unmarshal(stdout.Bytes(), &rs); err != nil || len(rs) != 1 {
		t.Fatalf("ip %v: %q: %v", args, stdout.String(), err)
	}
	ans.route = rs[0]
	return ans
}

// compareWithKernel returns what differs, or "".
func compareWithKernel(k kernelAnswer, got RouteResult, q RouteQuery) string {
	if k.errno != 0 || got.Errno != 0 {
		if k.errno != got.Errno {
			return fmt.Sprintf("errno %q, kernel %q", got.Errno, k.errno)
		}
		return ""
	}
	r := k.route
	typ := cmpOr(r.Type, RouteUnicast)
	var diffs []string
	if typ != got.Type {
		diffs = append(diffs, fmt.Sprintf("type %s, kernel %s", got.Type, typ))
	}
	gw, _ := parseOptAddr(r.Gateway)
	if len(got.NextHops) > 1 {
		if !slices.ContainsFunc(got.NextHops, func(nh NextHop) bool { return nh.Device == r.Dev && nh.Gateway == gw }) {
			diffs = append(diffs, fmt.Sprintf("next hops %v, kernel dev %s via %s", got.NextHops, r.Dev, gw))
		}
	} else {
		if r.Dev != got.Device {
			diffs = append(diffs, fmt.Sprintf("dev %s, kernel %s", got.Device, r.Dev))
		}
		if gw != got.Gateway {
			diffs = append(diffs, fmt.Sprintf("gateway %s, kernel %s", got.Gateway, gw))
		}
	}
	if q.IIF == "" && len(got.NextHops) <= 1 {
		src, _ := parseOptAddr(r.PrefSrc)
		if !src.IsValid() {
			src = q.Src
		}
		if src != got.Src {
			diffs = append(diffs, fmt.Sprintf("src %s, kernel %s", got.Src, src))
		}
	}
	if r.Table != "" {
		if tbl, err := parseTable(r.Table); err == nil && tbl != got.Table {
			diffs = append(diffs, fmt.Sprintf("table %d, kernel %d", got.Table, tbl))
		}
	}
	return strings.Join(diffs, "; ")
}
