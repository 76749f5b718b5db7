package netstack

import (
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// lookupWant is what a lookup test checks: the decision, not the trace.
type lookupWant struct {
	Type     string
	Device   string
	Gateway  string
	Src      string
	Table    int
	Reject   Reject
	Errno    syscall.Errno
	NextHops int
}

func summarize(r RouteResult) lookupWant {
	w := lookupWant{Type: r.Type, Device: r.Device, Table: r.Table, Reject: r.Reject, Errno: r.Errno}
	if r.Gateway.IsValid() {
		w.Gateway = r.Gateway.String()
	}
	if r.Src.IsValid() {
		w.Src = r.Src.String()
	}
	if len(r.NextHops) > 1 {
		w.NextHops = len(r.NextHops)
	}
	return w
}

// node is a host with two uplinks and a pod bridge, the shape most tests start from.
func node() *nsBuilder {
	return MakeNetstack().
		Iface("eth0", 2, "192.168.1.10/24").
		Iface("eth1", 3, "172.16.0.10/16").
		Iface("cni0", 4, "10.244.1.1/24").
		Route("default via 192.168.1.1 dev eth0")
}

func q(dst string) RouteQuery { return RouteQuery{Dst: netip.MustParseAddr(dst)} }

func in(dst, src, iif string) RouteQuery {
	return RouteQuery{Dst: netip.MustParseAddr(dst), Src: netip.MustParseAddr(src), IIF: iif}
}

func marked(dst string, mark uint32) RouteQuery {
	r := q(dst)
	r.Mark = mark
	return r
}

func TestLookupRoute(t *testing.T) {
	cases := map[string]struct {
		ns    *Netstack
		query RouteQuery
		want  lookupWant
	}{
		"default route, source from the device": {
			ns: node().Obj(), query: q("8.8.8.8"),
			want: lookupWant{Type: "unicast", Device: "eth0", Gateway: "192.168.1.1", Src: "192.168.1.10", Table: TableMain},
		},
		"connected subnet, no gateway": {
			ns: node().Obj(), query: q("10.244.1.7"),
			want: lookupWant{Type: "unicast", Device: "cni0", Src: "10.244.1.1", Table: TableMain},
		},
		"longest prefix wins over the default": {
			ns: node().Route("10.244.2.0/24 via 172.16.0.20 dev eth1").Obj(), query: q("10.244.2.5"),
			want: lookupWant{Type: "unicast", Device: "eth1", Gateway: "172.16.0.20", Src: "172.16.0.10", Table: TableMain},
		},
		"lowest metric wins among equal prefixes": {
			ns: node().
				Route("10.9.0.0/16 via 172.16.0.30 dev eth1 metric 200").
				Route("10.9.0.0/16 via 192.168.1.30 dev eth0 metric 100").Obj(),
			query: q("10.9.1.1"),
			want:  lookupWant{Type: "unicast", Device: "eth0", Gateway: "192.168.1.30", Src: "192.168.1.10", Table: TableMain},
		},
		"own address is delivered locally by the local table": {
			ns: node().Obj(), query: q("172.16.0.10"),
			want: lookupWant{Type: "local", Device: "lo", Src: "172.16.0.10", Table: TableLocal},
		},
		"all of 127/8 is local": {
			ns: node().Obj(), query: q("127.8.9.10"),
			want: lookupWant{Type: "local", Device: "lo", Src: "127.0.0.1", Table: TableLocal},
		},
		"subnet broadcast": {
			ns: node().Obj(), query: q("10.244.1.255"),
			want: lookupWant{Type: "broadcast", Device: "cni0", Src: "10.244.1.1", Table: TableLocal},
		},
		"blackhole route": {
			ns: node().Route("blackhole 10.244.9.0/24").Obj(), query: q("10.244.9.9"),
			want: lookupWant{Type: "blackhole", Table: TableMain, Reject: RejectBlackhole, Errno: syscall.EINVAL},
		},
		"unreachable route answers host unreachable": {
			ns: node().Route("unreachable 10.244.9.0/24").Obj(), query: q("10.244.9.9"),
			want: lookupWant{Type: "unreachable", Table: TableMain, Reject: RejectUnreachable, Errno: syscall.EHOSTUNREACH},
		},
		"prohibit route": {
			ns: node().Route("prohibit 10.244.9.0/24").Obj(), query: q("10.244.9.9"),
			want: lookupWant{Type: "prohibit", Table: TableMain, Reject: RejectProhibit, Errno: syscall.EACCES},
		},
		"no route at all": {
			ns: MakeNetstack().Iface("eth0", 2, "192.168.1.10/24").Obj(), query: q("8.8.8.8"),
			want: lookupWant{Type: "unreachable", Reject: RejectNoRoute, Errno: syscall.ENETUNREACH},
		},
		"throw continues with the next rule": {
			ns: node().
				Route("throw 10.50.0.0/16 table 100").
				Route("10.0.0.0/8 via 172.16.0.1 dev eth1 table 100").
				Rule("pref 100 lookup 100").Obj(),
			query: q("10.50.1.1"),
			want:  lookupWant{Type: "unicast", Device: "eth0", Gateway: "192.168.1.1", Src: "192.168.1.10", Table: TableMain},
		},
		"fwmark with mask selects a table": {
			ns: node().
				Route("default via 172.16.0.1 dev eth1 table 100").
				Rule("pref 100 fwmark 0x100/0xf00 lookup 100").Obj(),
			query: marked("8.8.8.8", 0x4100),
			want:  lookupWant{Type: "unicast", Device: "eth1", Gateway: "172.16.0.1", Src: "172.16.0.10", Table: 100},
		},
		"fwmark without mask compares every bit": {
			ns: node().
				Route("default via 172.16.0.1 dev eth1 table 100").
				Rule("pref 100 fwmark 0x100 lookup 100").Obj(),
			query: marked("8.8.8.8", 0x4100),
			want:  lookupWant{Type: "unicast", Device: "eth0", Gateway: "192.168.1.1", Src: "192.168.1.10", Table: TableMain},
		},
		"not inverts the selector": {
			ns: node().
				Route("default via 172.16.0.1 dev eth1 table 100").
				Rule("pref 100 not to 10.0.0.0/8 lookup 100").Obj(),
			query: q("8.8.8.8"),
			want:  lookupWant{Type: "unicast", Device: "eth1", Gateway: "172.16.0.1", Src: "172.16.0.10", Table: 100},
		},
		"goto jumps over rules": {
			ns: node().
				Route("default via 172.16.0.1 dev eth1 table 100").
				Rule("pref 100 to 8.0.0.0/8 goto 300").
				Rule("pref 200 blackhole").
				Rule("pref 300 lookup 100").Obj(),
			query: q("8.8.8.8"),
			want:  lookupWant{Type: "unicast", Device: "eth1", Gateway: "172.16.0.1", Src: "172.16.0.10", Table: 100},
		},
		"goto without a target is skipped": {
			ns: node().
				Rule("pref 100 goto 150").
				Rule("pref 200 blackhole").Obj(),
			query: q("8.8.8.8"),
			want:  lookupWant{Type: "blackhole", Reject: RejectBlackhole, Errno: syscall.EINVAL},
		},
		"nop does nothing": {
			ns: node().Rule("pref 100 nop").Obj(), query: q("8.8.8.8"),
			want: lookupWant{Type: "unicast", Device: "eth0", Gateway: "192.168.1.1", Src: "192.168.1.10", Table: TableMain},
		},
		"unreachable rule answers network unreachable": {
			ns: node().Rule("pref 100 to 8.8.0.0/16 unreachable").Obj(), query: q("8.8.8.8"),
			want: lookupWant{Type: "unreachable", Reject: RejectUnreachable, Errno: syscall.ENETUNREACH},
		},
		"suppress_prefixlength 0 ignores the default route (wg-quick)": {
			ns: node().
				Route("default via 172.16.0.1 dev eth1 table 51820").
				Rule("pref 100 lookup main suppress_prefixlength 0").
				Rule("pref 200 lookup 51820").Obj(),
			query: q("8.8.8.8"),
			want:  lookupWant{Type: "unicast", Device: "eth1", Gateway: "172.16.0.1", Src: "172.16.0.10", Table: 51820},
		},
		"suppress_prefixlength keeps longer prefixes": {
			ns: node().
				Route("default via 172.16.0.1 dev eth1 table 51820").
				Rule("pref 100 lookup main suppress_prefixlength 0").
				Rule("pref 200 lookup 51820").Obj(),
			query: q("10.244.1.9"),
			want:  lookupWant{Type: "unicast", Device: "cni0", Src: "10.244.1.1", Table: TableMain},
		},
		"iif lo matches locally generated packets only": {
			ns: node().
				Route("default via 172.16.0.1 dev eth1 table 100").
				Rule("pref 100 iif lo lookup 100").Sysctl("ipv4/ip_forward", "1").Obj(),
			query: in("8.8.8.8", "10.244.1.5", "cni0"),
			want:  lookupWant{Type: "unicast", Device: "eth0", Gateway: "192.168.1.1", Src: "10.244.1.5", Table: TableMain},
		},
		"ipproto and dport select a table": {
			ns: node().
				Route("default via 172.16.0.1 dev eth1 table 100").
				Rule("pref 100 ipproto 6 dport 80-90 lookup 100").Obj(),
			query: RouteQuery{Dst: netip.MustParseAddr("8.8.8.8"), IPProto: 6, DPort: 85},
			want:  lookupWant{Type: "unicast", Device: "eth1", Gateway: "172.16.0.1", Src: "172.16.0.10", Table: 100},
		},
		"a device without carrier is still used": {
			ns: node().Route("10.9.0.0/16 via 172.16.0.30 dev eth1").
				Route("10.9.0.0/16 via 192.168.1.30 dev eth0 metric 100").
				With(func(*Interface) {}).Obj(),
			query: q("10.9.1.1"),
			want:  lookupWant{Type: "unicast", Device: "eth1", Gateway: "172.16.0.30", Src: "172.16.0.10", Table: TableMain},
		},
		"ignore_routes_with_linkdown skips a device without carrier": {
			ns: func() *Netstack {
				ns := node().Route("10.9.0.0/16 via 172.16.0.30 dev eth1").
					Route("10.9.0.0/16 via 192.168.1.30 dev eth0 metric 100").
					Sysctl("ipv4/conf/eth1/ignore_routes_with_linkdown", "1").Obj()
				ns.InterfaceByName("eth1").OperState = "lowerlayerdown"
				return ns
			}(),
			query: q("10.9.1.1"),
			want:  lookupWant{Type: "unicast", Device: "eth0", Gateway: "192.168.1.30", Src: "192.168.1.10", Table: TableMain},
		},
		"a route whose device is down is dead": {
			ns: func() *Netstack {
				ns := node().Route("10.9.0.0/16 via 172.16.0.30 dev eth1").Obj()
				ns.InterfaceByName("eth1").Up = false
				return ns
			}(),
			query: q("10.9.1.1"),
			want:  lookupWant{Type: "unicast", Device: "eth0", Gateway: "192.168.1.1", Src: "192.168.1.10", Table: TableMain},
		},
		"multipath reports every live next hop": {
			ns:    node().Route("10.9.0.0/16 nexthop via 172.16.0.30 dev eth1 nexthop via 192.168.1.30 dev eth0 nexthop via 192.168.1.31 dev eth0 dead").Obj(),
			query: q("10.9.1.1"),
			want:  lookupWant{Type: "unicast", Device: "eth1", Gateway: "172.16.0.30", Src: "172.16.0.10", Table: TableMain, NextHops: 2},
		},
		"onlink gateway outside the device's subnet": {
			ns: node().Route("10.244.5.0/24 via 10.244.5.0 dev flannel.1 onlink").
				Iface("flannel.1", 5, "10.244.1.0/32").Obj(),
			query: q("10.244.5.9"),
			want:  lookupWant{Type: "unicast", Device: "flannel.1", Gateway: "10.244.5.0", Src: "10.244.1.0", Table: TableMain},
		},
		"the route's src is the preferred source": {
			ns: node().Route("10.9.0.0/16 via 172.16.0.30 dev eth1 src 10.244.1.1").Obj(), query: q("10.9.1.1"),
			want: lookupWant{Type: "unicast", Device: "eth1", Gateway: "172.16.0.30", Src: "10.244.1.1", Table: TableMain},
		},
		"source on a device without addresses comes from another device": {
			ns: node().Iface("vxlan0", 6).Route("10.9.0.0/16 dev vxlan0 scope global").Obj(), query: q("10.9.1.1"),
			want: lookupWant{Type: "unicast", Device: "vxlan0", Src: "192.168.1.10", Table: TableMain},
		},
		"a source that is not local is refused": {
			ns: node().Obj(), query: RouteQuery{Dst: netip.MustParseAddr("8.8.8.8"), Src: netip.MustParseAddr("1.2.3.4")},
			want: lookupWant{Type: "unreachable", Reject: RejectSourceNotLocal, Errno: syscall.ENETUNREACH},
		},
		"forced output interface without a route assumes on-link": {
			ns:    MakeNetstack().Iface("eth0", 2, "192.168.1.10/24").Obj(),
			query: RouteQuery{Dst: netip.MustParseAddr("8.8.8.8"), OIF: "eth0"},
			want:  lookupWant{Type: "unicast", Device: "eth0", Src: "192.168.1.10"},
		},
		"forwarded packet": {
			ns: node().Sysctl("ipv4/ip_forward", "1").Obj(), query: in("8.8.8.8", "10.244.1.5", "cni0"),
			want: lookupWant{Type: "unicast", Device: "eth0", Gateway: "192.168.1.1", Src: "10.244.1.5", Table: TableMain},
		},
		"forwarding disabled": {
			ns: node().Sysctl("ipv4/ip_forward", "0").Obj(), query: in("8.8.8.8", "10.244.1.5", "cni0"),
			want: lookupWant{Type: "unreachable", Table: TableMain, Reject: RejectForwardingDisabled, Errno: syscall.EHOSTUNREACH},
		},
		"forwarding is per input interface": {
			ns:    node().Sysctl("ipv4/ip_forward", "1").Sysctl("ipv4/conf/cni0/forwarding", "0").Obj(),
			query: in("8.8.8.8", "10.244.1.5", "cni0"),
			want:  lookupWant{Type: "unreachable", Table: TableMain, Reject: RejectForwardingDisabled, Errno: syscall.EHOSTUNREACH},
		},
		"delivery to a local address needs no forwarding": {
			ns: node().Obj(), query: in("192.168.1.10", "10.244.1.5", "cni0"),
			want: lookupWant{Type: "local", Device: "lo", Src: "10.244.1.5", Table: TableLocal},
		},
		"strict rp_filter drops a packet whose way back is another interface": {
			ns:    node().Sysctl("ipv4/ip_forward", "1").Sysctl("ipv4/conf/all/rp_filter", "1").Obj(),
			query: in("10.244.1.5", "172.16.5.5", "eth0"),
			want:  lookupWant{Type: "unreachable", Table: TableMain, Reject: RejectRPFilter, Errno: syscall.EINVAL},
		},
		"loose rp_filter accepts it": {
			ns:    node().Sysctl("ipv4/ip_forward", "1").Sysctl("ipv4/conf/all/rp_filter", "2").Obj(),
			query: in("10.244.1.5", "172.16.5.5", "eth0"),
			want:  lookupWant{Type: "unicast", Device: "cni0", Src: "172.16.5.5", Table: TableMain},
		},
		"rp_filter is the maximum of all and the device": {
			ns:    node().Sysctl("ipv4/ip_forward", "1").Sysctl("ipv4/conf/all/rp_filter", "0").Sysctl("ipv4/conf/eth0/rp_filter", "1").Obj(),
			query: in("10.244.1.5", "172.16.5.5", "eth0"),
			want:  lookupWant{Type: "unreachable", Table: TableMain, Reject: RejectRPFilter, Errno: syscall.EINVAL},
		},
		"a packet claiming our own source is martian": {
			ns: node().Sysctl("ipv4/ip_forward", "1").Obj(), query: in("10.244.1.5", "192.168.1.10", "eth0"),
			want: lookupWant{Type: "unreachable", Table: TableMain, Reject: RejectMartianSource, Errno: syscall.EINVAL},
		},
		"loopback destination from outside is martian": {
			ns: node().Obj(), query: in("127.0.0.1", "192.168.1.50", "eth0"),
			want: lookupWant{Type: "unreachable", Reject: RejectMartianDestination, Errno: syscall.EINVAL},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := tc.ns.LookupRoute(tc.query)
			if diff := cmp.Diff(tc.want, summarize(got)); diff != "" {
				t.Errorf("LookupRoute(%s) (-want +got):\n%s\ntrace: %s", tc.query, diff, strings.Join(got.Trace, "; "))
			}
		})
	}
}

func TestLookupRouteWithoutRulesUsesTheDefaults(t *testing.T) {
	ns := node().Route("10.1.0.0/16 via 172.16.0.1 dev eth1 table 100").Obj()
	if len(ns.Rules) != 0 {
		t.Fatal("the builder added rules")
	}
	// Table 100 is not consulted without a rule for it.
	got := ns.LookupRoute(q("10.1.2.3"))
	if got.Device != "eth0" || got.Rule == nil || got.Rule.Priority != 32766 {
		t.Errorf("got dev %s rule %v, want eth0 by the main rule 32766", got.Device, got.Rule)
	}
}

func TestIsLocalAddr(t *testing.T) {
	ns := node().Obj()
	cases := map[string]bool{
		"192.168.1.10": true, "10.244.1.1": true, "127.0.0.1": true, "127.1.2.3": true,
		"192.168.1.11": false, "10.244.1.255": false, "8.8.8.8": false,
	}
	for addr, want := range cases {
		if got := ns.IsLocalAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("IsLocalAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestSysctlSemantics(t *testing.T) {
	ns := MakeNetstack().Iface("eth0", 2).
		Sysctl("ipv4/conf/all/rp_filter", "2").Sysctl("ipv4/conf/eth0/rp_filter", "1").
		Sysctl("ipv4/ip_forward", "1").Sysctl("ipv4/conf/eth0/forwarding", "0").Obj()
	if got := ns.RPFilter("eth0"); got != 2 {
		t.Errorf("RPFilter(eth0) = %d, want max(all=2, eth0=1) = 2", got)
	}
	if got := ns.RPFilter("lo"); got != 2 {
		t.Errorf("RPFilter(lo) = %d, want all's 2", got)
	}
	if ns.Forwarding("eth0") {
		t.Error("Forwarding(eth0) with conf/eth0/forwarding=0 is true")
	}
	if !ns.Forwarding("lo") {
		t.Error("Forwarding(lo) without its own entry does not follow ip_forward=1")
	}
}

func TestEgressMTU(t *testing.T) {
	ns := node().Route("10.9.0.0/16 via 172.16.0.30 dev eth1 mtu 1400").Obj()
	for dst, want := range map[string]int{"10.9.0.1": 1400, "8.8.8.8": 1500} {
		if got := ns.EgressMTU(ns.LookupRoute(q(dst))); got != want {
			t.Errorf("EgressMTU to %s = %d, want %d", dst, got, want)
		}
	}
}

func TestVethPeer(t *testing.T) {
	host := MakeNetstack().Iface("eth0", 2, "192.168.1.10/24").
		Iface("veth1", 7).With(func(i *Interface) { i.Veth = &VethAttrs{PeerIndex: 2, PeerNetNSID: 0} }).
		Iface("veth2", 8).With(func(i *Interface) { i.Veth = &VethAttrs{PeerIndex: 2, PeerNetNSID: 1} }).Obj()
	pod := func(name string, peer int) Netstack {
		ns := MakeNetstack().Iface("eth0", 2, "10.244.1.5/24").
			With(func(i *Interface) { i.Veth = &VethAttrs{PeerIndex: peer} }).Obj()
		ns.Pod = &PodRef{Namespace: "default", Name: name}
		return *ns
	}
	snap := &NodeSnapshot{Node: "n1", Host: *host, Pods: []Netstack{pod("a", 7), pod("b", 8)}}
	cases := map[string]struct {
		ns         *Netstack
		ifc        string
		wantNS     string
		wantIfc    string
		wantAbsent bool
	}{
		"host side to pod b": {ns: &snap.Host, ifc: "veth2", wantNS: "b", wantIfc: "eth0"},
		"host side to pod a": {ns: &snap.Host, ifc: "veth1", wantNS: "a", wantIfc: "eth0"},
		"pod b to host":      {ns: snap.PodNetstack("default", "b"), ifc: "eth0", wantNS: "host", wantIfc: "veth2"},
		"not a veth":         {ns: &snap.Host, ifc: "eth0", wantAbsent: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			pns, peer, ok := snap.VethPeer(tc.ns, tc.ns.InterfaceByName(tc.ifc))
			if ok == tc.wantAbsent {
				t.Fatalf("ok = %v", ok)
			}
			if !ok {
				return
			}
			gotNS := "host"
			if pns.Pod != nil {
				gotNS = pns.Pod.Name
			}
			if diff := cmp.Diff([]string{tc.wantNS, tc.wantIfc}, []string{gotNS, peer.Name}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNeighbourAndFDB(t *testing.T) {
	ns := MakeNetstack().Iface("flannel.1", 5).
		Neighbour("flannel.1", "10.244.2.0", "aa:bb:cc:dd:ee:02", "PERMANENT").
		Neighbour("eth0", "192.168.1.1", "", "FAILED").
		FDB("flannel.1", "AA:BB:CC:DD:EE:02", "192.168.1.12").Obj()
	if nb := ns.Neighbour("flannel.1", netip.MustParseAddr("10.244.2.0")); nb == nil || !nb.Usable() {
		t.Errorf("permanent neighbour not found usable: %v", nb)
	}
	if nb := ns.Neighbour("eth0", netip.MustParseAddr("192.168.1.1")); nb == nil || nb.Usable() {
		t.Errorf("failed neighbour found usable: %v", nb)
	}
	if got := ns.FDBEntries("aa:bb:cc:dd:ee:02", "flannel.1"); len(got) != 1 || got[0].Dst != netip.MustParseAddr("192.168.1.12") {
		t.Errorf("FDBEntries = %v", got)
	}
}
