package e2e

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netdiag/netdiag/test/lab"
)

// Faults are injected the way an operator breaks a cluster by accident: ip, iptables and
// sysctl inside a node's or a pod's namespace, through lab.Exec. Each undoes itself when the
// spec ends (DeferCleanup), and the lab is checked healthy again before the next spec.

// run runs a command in a lab namespace and returns its output; it must succeed.
func (e *env) run(ctx context.Context, netns string, argv ...string) string {
	GinkgoHelper()
	out, err := e.lab.Exec(ctx, netns, argv...)
	Expect(err).NotTo(HaveOccurred(), "%s in %s: %s", strings.Join(argv, " "), netns, out)
	return string(out)
}

// inject runs do now and undo when the spec ends.
func (e *env) inject(ctx context.Context, netns string, do, undo []string) {
	GinkgoHelper()
	By("injecting `" + strings.Join(do, " ") + "` in " + netns)
	e.run(ctx, netns, do...)
	if undo != nil {
		DeferCleanup(func(ctx SpecContext) {
			_, _ = e.lab.Exec(ctx, netns, undo...)
		})
	}
}

// keepRoutes restores the IPv4 main routing table of netns, as it is now, when the spec
// ends: faults that flush, replace or (by taking a link down) lose routes are undone by it.
func (e *env) keepRoutes(ctx context.Context, netns string) {
	GinkgoHelper()
	saved := routeLines(e.run(ctx, netns, "ip", "-4", "route", "show", "table", "main"))
	DeferCleanup(func(ctx SpecContext) {
		out, _ := e.lab.Exec(ctx, netns, "ip", "-4", "route", "show", "table", "main")
		for _, r := range routeLines(string(out)) {
			if !slices.Contains(saved, r) {
				_, _ = e.lab.Exec(ctx, netns, append([]string{"ip", "route", "del"}, strings.Fields(r)...)...)
			}
		}
		// Routes through a gateway need the gateway's subnet route first.
		for _, r := range saved {
			if strings.Contains(r, "scope link") {
				_, _ = e.lab.Exec(ctx, netns, append([]string{"ip", "route", "replace"}, strings.Fields(r)...)...)
			}
		}
		for _, r := range saved {
			if !strings.Contains(r, "scope link") {
				_, _ = e.lab.Exec(ctx, netns, append([]string{"ip", "route", "replace"}, strings.Fields(r)...)...)
			}
		}
	})
}

func routeLines(out string) []string {
	var lines []string
	for l := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// linkDown takes a link down in netns and brings it (and the routes the kernel removed with
// it) back when the spec ends.
func (e *env) linkDown(ctx context.Context, netns, link string) {
	GinkgoHelper()
	e.keepRoutes(ctx, netns)
	e.inject(ctx, netns, []string{"ip", "link", "set", link, "down"}, []string{"ip", "link", "set", link, "up"})
}

// hostVeth is the node-side name of a pod's veth: the interface in the node's namespace
// whose peer is the pod's eth0.
func (e *env) hostVeth(ctx context.Context, pod, node string) string {
	GinkgoHelper()
	out := e.run(ctx, e.podNetns(pod), "ip", "-o", "link", "show", "eth0")
	// "2: eth0@if7: <...>": the peer's index in the node's namespace follows "@if".
	_, rest, ok := strings.Cut(out, "@if")
	Expect(ok).To(BeTrue(), "eth0 of pod %s is not a veth: %s", pod, out)
	idx, _, _ := strings.Cut(rest, ":")
	links := e.run(ctx, e.node(node).Netns, "ip", "-o", "link", "show")
	for l := range strings.SplitSeq(links, "\n") {
		num, name, ok := strings.Cut(l, ": ")
		if !ok || strings.TrimSpace(num) != idx {
			continue
		}
		name, _, _ = strings.Cut(name, ":")
		name, _, _ = strings.Cut(name, "@")
		return name
	}
	Fail("no interface " + idx + " on " + node + " for pod " + pod)
	return ""
}

// vxlanDevice is the mode's vxlan interface.
func (e *env) vxlanDevice() string {
	if e.mode == lab.ModeCalicoVXLAN {
		return "vxlan.calico"
	}
	return "flannel.1"
}

// removeFDBEntry deletes, on node from, the vxlan fdb entry that sends frames for peer's
// VTEP to peer's underlay address, and restores it when the spec ends.
func (e *env) removeFDBEntry(ctx context.Context, from, peer string) {
	GinkgoHelper()
	dev, n, p := e.vxlanDevice(), e.node(from), e.node(peer)
	var mac string
	for l := range strings.SplitSeq(e.run(ctx, n.Netns, "bridge", "fdb", "show", "dev", dev), "\n") {
		if strings.Contains(l, "dst "+p.IP.String()+" ") {
			mac, _, _ = strings.Cut(l, " ")
		}
	}
	Expect(mac).NotTo(BeEmpty(), "fdb entry for %s on %s %s", peer, from, dev)
	e.inject(ctx, n.Netns,
		[]string{"bridge", "fdb", "del", mac, "dev", dev, "dst", p.IP.String()},
		[]string{"bridge", "fdb", "append", mac, "dev", dev, "dst", p.IP.String(), "self", "permanent"})
}

// peerRoute is the route on node from to peer's pod CIDR, as `ip route` prints it.
func (e *env) peerRoute(ctx context.Context, from, peer string) string {
	GinkgoHelper()
	cidr := e.node(peer).PodCIDR.String()
	for _, l := range routeLines(e.run(ctx, e.node(from).Netns, "ip", "-4", "route", "show", "table", "main")) {
		if strings.HasPrefix(l, cidr+" ") {
			return l
		}
	}
	Fail("no route to " + cidr + " on " + from)
	return ""
}

// blackhole adds a blackhole route for ip/32 on node.
func (e *env) blackhole(ctx context.Context, node string, ip netip.Addr) {
	GinkgoHelper()
	dst := netip.PrefixFrom(ip, 32).String()
	e.inject(ctx, e.node(node).Netns, []string{"ip", "route", "add", "blackhole", dst}, []string{"ip", "route", "del", "blackhole", dst})
}

// iptablesInsert inserts rule at the top of chain in table filter of netns, and deletes it
// when the spec ends.
func (e *env) iptablesInsert(ctx context.Context, netns, chain string, rule ...string) {
	GinkgoHelper()
	e.inject(ctx, netns,
		append([]string{"iptables", "-w", "-I", chain, "1"}, rule...),
		append([]string{"iptables", "-w", "-D", chain}, rule...))
}

// sysctl sets key to value in netns and back to what it was when the spec ends.
func (e *env) sysctl(ctx context.Context, netns, key, value string) {
	GinkgoHelper()
	was := strings.TrimSpace(e.run(ctx, netns, "sysctl", "-n", key))
	e.inject(ctx, netns, []string{"sysctl", "-w", key + "=" + value}, []string{"sysctl", "-w", key + "=" + was})
}

// stopKubeProxy stops node's kube-proxy and starts it again when the spec ends; the
// restarted one programs its rules afresh.
func (e *env) stopKubeProxy(ctx context.Context, node string) {
	GinkgoHelper()
	By("stopping kube-proxy on " + node)
	Expect(e.lab.StopKubeProxy(node)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		Expect(e.lab.StartKubeProxy(ctx, node)).To(Succeed())
	})
}

// expectHealthy checks, after a spec's faults were undone, that the shop works again:
// a fault that outlives its spec would make the next spec test the wrong thing.
func (e *env) expectHealthy(ctx context.Context) {
	GinkgoHelper()
	p := paths{e: e, ctx: ctx}
	for _, c := range []path{
		p.podToPod("web", "db", 5432),
		p.podToPod("web", "api", 8080),
		p.podToService("web", "api", 80, lab.TCP),
	} {
		got := probeUntil(ctx, c.probe, true, 15*time.Second)
		Expect(got.Reachable).To(BeTrue(), "after the spec's faults were undone, %s -> %s: %s", c.probe.From, c.probe.To, got)
	}
}
