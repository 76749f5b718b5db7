package netstack

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netdiag/netdiag/internal/model"
)

// found is what an assertion test checks of each suspicion.
type found struct {
	Level     model.Level
	Reason    model.Reason
	Interface string
}

func summarizeSuspicions(ss []model.Suspicion) []found {
	var out []found
	for _, s := range ss {
		if s.Message == "" || s.Node != "n1" {
			panic("suspicion without message or place")
		}
		out = append(out, found{s.Level, s.Reason, s.Interface})
	}
	return out
}

func TestNetstackAssertion(t *testing.T) {
	crit := func(r model.Reason, ifc string) []found { return []found{{model.Critical, r, ifc}} }
	warn := func(r model.Reason, ifc string) []found { return []found{{model.Warning, r, ifc}} }
	downCarrier := func(ns *Netstack) *Netstack {
		ns.InterfaceByName("eth1").OperState = "lowerlayerdown"
		return ns
	}
	vxlan := func(mtu, underlay int) *Netstack {
		return MakeNetstack().Iface("eth0", 2, "192.168.1.10/24").With(func(i *Interface) { i.MTU = underlay }).
			Iface("flannel.1", 5, "10.244.1.0/32").With(func(i *Interface) {
			i.Kind, i.MTU = "vxlan", mtu
			i.VXLAN = &VXLANAttrs{VNI: 1, Port: 8472, Local: netip.MustParseAddr("192.168.1.10"), Device: "eth0"}
		}).Obj()
	}
	listening := func(socks ...string) *Netstack {
		ns := MakeNetstack().Iface("eth0", 2, "10.244.1.5/24").Obj()
		ns.Listening = []Socket{}
		for _, s := range socks {
			ns.Listening = append(ns.Listening, Socket{Protocol: "TCP", Address: netip.MustParseAddrPort(s)})
		}
		return ns
	}
	cases := map[string]struct {
		ns    *Netstack
		check func(a *NetstackAssertion) []model.Suspicion
		want  []found
	}{
		"interface up": {
			ns: node().Obj(), check: func(a *NetstackAssertion) []model.Suspicion { return a.InterfaceUp("eth0") },
		},
		"interface missing": {
			ns: node().Obj(), check: func(a *NetstackAssertion) []model.Suspicion { return a.InterfaceUp("eth9") },
			want: crit(model.ReasonInterfaceMissing, "eth9"),
		},
		"interface down": {
			ns:    func() *Netstack { ns := node().Obj(); ns.InterfaceByName("eth1").Up = false; return ns }(),
			check: func(a *NetstackAssertion) []model.Suspicion { return a.InterfaceUp("eth1") },
			want:  crit(model.ReasonInterfaceDown, "eth1"),
		},
		"interface without carrier": {
			ns:    downCarrier(node().Obj()),
			check: func(a *NetstackAssertion) []model.Suspicion { return a.InterfaceUp("eth1") },
			want:  crit(model.ReasonInterfaceDown, "eth1"),
		},
		"port of a bridge that is down": {
			ns: func() *Netstack {
				ns := node().Iface("veth1", 9).With(func(i *Interface) { i.Master = "cni0" }).Obj()
				ns.InterfaceByName("cni0").Up = false
				return ns
			}(),
			check: func(a *NetstackAssertion) []model.Suspicion { return a.InterfaceUp("veth1") },
			want:  crit(model.ReasonInterfaceDown, "cni0"),
		},
		"links unreadable: no guess": {
			ns: func() *Netstack {
				ns := node().Obj()
				ns.Errors = []PartError{{Part: "links", Error: "permission denied"}}
				return ns
			}(),
			check: func(a *NetstackAssertion) []model.Suspicion { return a.InterfaceUp("eth9") },
		},
		"packet fits": {
			ns: node().Obj(), check: func(a *NetstackAssertion) []model.Suspicion { return a.MTU("eth0", 1450) },
		},
		"packet too large for the interface": {
			ns: node().Obj(), check: func(a *NetstackAssertion) []model.Suspicion { return a.MTU("eth0", 9000) },
			want: warn(model.ReasonMTUMismatch, "eth0"),
		},
		"vxlan fits its underlay": {
			ns: vxlan(1450, 1500), check: func(a *NetstackAssertion) []model.Suspicion { return a.TunnelMTU("flannel.1") },
		},
		"vxlan too large for its underlay": {
			ns: vxlan(1500, 1500), check: func(a *NetstackAssertion) []model.Suspicion { return a.TunnelMTU("flannel.1") },
			want: warn(model.ReasonMTUMismatch, "flannel.1"),
		},
		"vxlan on a jumbo underlay": {
			ns: vxlan(8950, 9000), check: func(a *NetstackAssertion) []model.Suspicion { return a.TunnelMTU("flannel.1") },
		},
		"route exists": {
			ns: node().Obj(), check: func(a *NetstackAssertion) []model.Suspicion { _, s := a.Route(q("8.8.8.8")); return s },
		},
		"route missing": {
			ns:    MakeNetstack().Iface("eth0", 2, "192.168.1.10/24").Obj(),
			check: func(a *NetstackAssertion) []model.Suspicion { _, s := a.Route(q("8.8.8.8")); return s },
			want:  crit(model.ReasonRouteMissing, ""),
		},
		"route missing because the only interface is down": {
			// ip link set eth0 down: the address stays, every route through eth0 goes.
			ns: MakeNetstack().Iface("eth0", 2).With(func(i *Interface) {
				i.Up, i.OperState = false, "down"
				i.Addresses = []netip.Prefix{netip.MustParsePrefix("10.244.0.3/24")}
			}).Obj(),
			check: func(a *NetstackAssertion) []model.Suspicion { _, s := a.Route(q("10.244.1.2")); return s },
			want:  []found{{model.Critical, model.ReasonRouteMissing, ""}, {model.Critical, model.ReasonInterfaceDown, "eth0"}},
		},
		"route blackhole": {
			ns:    node().Route("blackhole 10.244.2.0/24").Obj(),
			check: func(a *NetstackAssertion) []model.Suspicion { _, s := a.Route(q("10.244.2.9")); return s },
			want:  crit(model.ReasonRouteBlackhole, ""),
		},
		"route unreachable": {
			ns:    node().Route("unreachable 10.244.2.0/24").Obj(),
			check: func(a *NetstackAssertion) []model.Suspicion { _, s := a.Route(q("10.244.2.9")); return s },
			want:  crit(model.ReasonRouteUnreachable, ""),
		},
		"route prohibited by a rule": {
			ns:    node().Rule("pref 10 to 10.244.2.0/24 prohibit").Obj(),
			check: func(a *NetstackAssertion) []model.Suspicion { _, s := a.Route(q("10.244.2.9")); return s },
			want:  crit(model.ReasonRouteProhibited, ""),
		},
		"route out of a device without carrier": {
			ns:    downCarrier(node().Route("10.244.2.0/24 via 172.16.0.20 dev eth1").Obj()),
			check: func(a *NetstackAssertion) []model.Suspicion { _, s := a.Route(q("10.244.2.9")); return s },
			want:  crit(model.ReasonInterfaceDown, "eth1"),
		},
		"forwarding on": {
			ns:    node().Sysctl("ipv4/ip_forward", "1").Obj(),
			check: func(a *NetstackAssertion) []model.Suspicion { return a.Forwarding("cni0") },
		},
		"forwarding off": {
			ns:    node().Sysctl("ipv4/ip_forward", "0").Obj(),
			check: func(a *NetstackAssertion) []model.Suspicion { return a.Forwarding("cni0") },
			want:  crit(model.ReasonIPForwardDisabled, "cni0"),
		},
		"forwarding off found by the route check": {
			ns: node().Sysctl("ipv4/ip_forward", "0").Obj(),
			check: func(a *NetstackAssertion) []model.Suspicion {
				_, s := a.Route(in("8.8.8.8", "10.244.1.5", "cni0"))
				return s
			},
			want: crit(model.ReasonIPForwardDisabled, "cni0"),
		},
		"strict rp_filter drops the asymmetric reply": {
			ns: node().Sysctl("ipv4/ip_forward", "1").Sysctl("ipv4/conf/eth0/rp_filter", "1").Obj(),
			check: func(a *NetstackAssertion) []model.Suspicion {
				return a.ReversePath(in("10.244.1.5", "172.16.5.5", "eth0"))
			},
			want: crit(model.ReasonRPFilterDrop, "eth0"),
		},
		"strict rp_filter passes the symmetric reply": {
			ns: node().Sysctl("ipv4/ip_forward", "1").Sysctl("ipv4/conf/eth0/rp_filter", "1").Obj(),
			check: func(a *NetstackAssertion) []model.Suspicion {
				return a.ReversePath(in("10.244.1.5", "8.8.8.8", "eth0"))
			},
		},
		"loose rp_filter passes the asymmetric reply": {
			ns: node().Sysctl("ipv4/ip_forward", "1").Sysctl("ipv4/conf/eth0/rp_filter", "2").Obj(),
			check: func(a *NetstackAssertion) []model.Suspicion {
				return a.ReversePath(in("10.244.1.5", "172.16.5.5", "eth0"))
			},
		},
		"tunnel peer's neighbour present": {
			ns: node().Neighbour("flannel.1", "10.244.2.0", "aa:bb:cc:dd:ee:02", "PERMANENT").Obj(),
			check: func(a *NetstackAssertion) []model.Suspicion {
				return a.Neighbour("flannel.1", netip.MustParseAddr("10.244.2.0"), true)
			},
		},
		"tunnel peer's neighbour missing": {
			ns: node().Obj(),
			check: func(a *NetstackAssertion) []model.Suspicion {
				return a.Neighbour("flannel.1", netip.MustParseAddr("10.244.2.0"), true)
			},
			want: crit(model.ReasonNeighbourMissing, "flannel.1"),
		},
		"dynamic neighbour not yet learnt is fine": {
			ns: node().Obj(),
			check: func(a *NetstackAssertion) []model.Suspicion {
				return a.Neighbour("eth0", netip.MustParseAddr("192.168.1.1"), false)
			},
		},
		"dynamic neighbour failed": {
			ns: node().Neighbour("eth0", "192.168.1.1", "", "FAILED").Obj(),
			check: func(a *NetstackAssertion) []model.Suspicion {
				return a.Neighbour("eth0", netip.MustParseAddr("192.168.1.1"), false)
			},
			want: warn(model.ReasonNeighbourMissing, "eth0"),
		},
		"fdb entry to the right node": {
			ns: node().FDB("flannel.1", "aa:bb:cc:dd:ee:02", "192.168.1.12").Obj(),
			check: func(a *NetstackAssertion) []model.Suspicion {
				return a.FDB("flannel.1", "AA:BB:CC:DD:EE:02", netip.MustParseAddr("192.168.1.12"))
			},
		},
		"fdb entry missing": {
			ns: node().Obj(),
			check: func(a *NetstackAssertion) []model.Suspicion {
				return a.FDB("flannel.1", "aa:bb:cc:dd:ee:02", netip.MustParseAddr("192.168.1.12"))
			},
			want: crit(model.ReasonFDBMissing, "flannel.1"),
		},
		"fdb entry to a stale node": {
			ns: node().FDB("flannel.1", "aa:bb:cc:dd:ee:02", "192.168.1.99").Obj(),
			check: func(a *NetstackAssertion) []model.Suspicion {
				return a.FDB("flannel.1", "aa:bb:cc:dd:ee:02", netip.MustParseAddr("192.168.1.12"))
			},
			want: crit(model.ReasonFDBWrongRemote, "flannel.1"),
		},
		"listening on the wildcard": {
			ns: listening("0.0.0.0:80"),
			check: func(a *NetstackAssertion) []model.Suspicion {
				return a.Listening(model.TCP, netip.MustParseAddrPort("10.244.1.5:80"))
			},
		},
		"listening on the IPv6 wildcard takes IPv4": {
			ns: listening("[::]:80"),
			check: func(a *NetstackAssertion) []model.Suspicion {
				return a.Listening(model.TCP, netip.MustParseAddrPort("10.244.1.5:80"))
			},
		},
		"listening on loopback only": {
			ns: listening("127.0.0.1:80"),
			check: func(a *NetstackAssertion) []model.Suspicion {
				return a.Listening(model.TCP, netip.MustParseAddrPort("10.244.1.5:80"))
			},
			want: crit(model.ReasonNotListening, ""),
		},
		"not listening on the port": {
			ns: listening("0.0.0.0:8080"),
			check: func(a *NetstackAssertion) []model.Suspicion {
				return a.Listening(model.TCP, netip.MustParseAddrPort("10.244.1.5:80"))
			},
			want: crit(model.ReasonNotListening, ""),
		},
		"sockets not collected: nothing said": {
			ns: node().Obj(),
			check: func(a *NetstackAssertion) []model.Suspicion {
				return a.Listening(model.TCP, netip.MustParseAddrPort("10.244.1.5:80"))
			},
		},
		"part errors": {
			ns: func() *Netstack {
				ns := node().Obj()
				ns.Errors = []PartError{{Part: "iptables", Error: "iptables-save: not found"}}
				return ns
			}(),
			check: func(a *NetstackAssertion) []model.Suspicion { return a.PartErrors() },
			want:  warn(model.ReasonSnapshotPartError, ""),
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := tc.check(NewNetstackAssertion("n1", tc.ns))
			if diff := cmp.Diff(tc.want, summarizeSuspicions(got)); diff != "" {
				t.Errorf("(-want +got):\n%s\nsuspicions: %+v", diff, got)
			}
		})
	}
}

func TestCheckPathMTU(t *testing.T) {
	cases := map[string]struct {
		hops []MTUHop
		want []string
	}{
		"pod MTU leaves room for vxlan": {
			hops: []MTUHop{{Interface: "eth0", MTU: 1450}, {Interface: "flannel.1", MTU: 1450}, {Interface: "ens3", MTU: 1500, Overhead: 50}},
		},
		"pod MTU as large as the underlay": {
			hops: []MTUHop{{Interface: "eth0", MTU: 1500}, {Interface: "flannel.1", MTU: 1450}, {Interface: "ens3", MTU: 1500, Overhead: 50}},
			want: []string{"flannel.1", "ens3"},
		},
		"unknown MTU skipped": {
			hops: []MTUHop{{Interface: "eth0", MTU: 1500}, {Interface: "x"}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, s := range CheckPathMTU(tc.hops) {
				got = append(got, s.Interface)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDescribeDecision(t *testing.T) {
	ns := node().Route("blackhole 10.9.0.0/16 table 100").Rule("pref 100 fwmark 0x4000/0x4000 lookup 100").Obj()
	got := DescribeDecision(ns.LookupRoute(marked("10.9.1.1", 0x4000)))
	if want := "blackhole 10.9.0.0/16 table 100"; got != want {
		t.Errorf("route: got %q, want %q", got, want)
	}
	ns = node().Rule("pref 100 not from 10.0.0.0/8 fwmark 0x1/0xff prohibit").Obj()
	got = DescribeDecision(ns.LookupRoute(marked("10.9.1.1", 0x1)))
	if want := "100: not from 10.0.0.0/8 fwmark 0x1/0xff prohibit"; got != want {
		t.Errorf("rule: got %q, want %q", got, want)
	}
}
