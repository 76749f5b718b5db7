package iptables

import (
	"net/netip"
	"testing"

	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// TestRPFilter is felix's anti-spoofing rule on a node: a packet from a workload interface
// passes when the route back to its source leaves by that interface, and is dropped (the
// inverted match hits) when its source belongs elsewhere.
func TestRPFilter(t *testing.T) {
	pfx := netip.MustParsePrefix
	ns := &netstack.Netstack{
		Interfaces: []netstack.Interface{
			{Index: 1, Name: "lo", Kind: "loopback", Up: true, Addresses: []netip.Prefix{pfx("127.0.0.1/8")}},
			{Index: 2, Name: "eth0", Kind: "veth", Up: true, Addresses: []netip.Prefix{pfx("172.18.1.1/16")}},
			{Index: 3, Name: "cali1", Kind: "veth", Up: true},
			{Index: 4, Name: "cali2", Kind: "veth", Up: true},
		},
		Routes: []netstack.Route{
			{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: pfx("172.18.0.0/16"), Device: "eth0", Scope: "link"},
			{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: pfx("10.244.0.2/32"), Device: "cali1", Scope: "link"},
			{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: pfx("10.244.0.3/32"), Device: "cali2", Scope: "link"},
			{Table: netstack.TableMain, Type: netstack.RouteBlackhole, Dst: pfx("10.244.0.0/24")},
		},
	}
	ns.Index()
	env, err := EnvFromNetstack(ns)
	if err != nil {
		t.Fatal(err)
	}
	rule := "-m rpfilter --validmark --invert"
	from := func(src, in string) nf.Packet {
		return with(tcpPkt(src, 40000, "10.244.1.2", 5432), func(p *nf.Packet) { p.In = in })
	}
	for name, tc := range map[string]struct {
		rule string
		pkt  nf.Packet
		want Result
	}{
		"its own address on its interface":   {rule, from("10.244.0.2", "cali1"), Miss},
		"another pod's address":              {rule, from("10.244.0.3", "cali1"), Hit},
		"an address of the blackholed block": {rule, from("10.244.0.9", "cali1"), Hit},
		"loose: some route back":             {"-m rpfilter --loose --invert", from("10.244.0.3", "cali1"), Miss},
		"not inverted":                       {"-m rpfilter", from("10.244.0.2", "cali1"), Hit},
		"looped back":                        {rule, from("10.244.0.3", "lo"), Miss},
		"unknown option":                     {"-m rpfilter --strict", from("10.244.0.2", "cali1"), Unsure},
	} {
		t.Run(name, func(t *testing.T) {
			rs, err := Parse("*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING " + tc.rule + " -j DROP\nCOMMIT\n")
			if err != nil {
				t.Fatal(err)
			}
			m := rs.Tables["raw"].Chains["PREROUTING"].Rules[0].Matches[0]
			if got := m.Eval(&tc.pkt, env); got != tc.want {
				t.Errorf("%s on %s from %s: got %s, want %s", tc.rule, tc.pkt.In, tc.pkt.Src, got, tc.want)
			}
		})
	}
}
