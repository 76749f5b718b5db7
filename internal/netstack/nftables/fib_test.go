package nftables

import (
	"net/netip"
	"testing"

	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/iptables"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// TestFelixReversePath is felix's nftables anti-spoofing rule (`fib saddr . mark . iif oif
// 0 drop` for packets marked as from a workload) and its drop of IP-in-IP from workloads: a
// pod's own address on its own interface passes, another's is dropped.
func TestFelixReversePath(t *testing.T) {
	const ruleset = `{"nftables": [
{"table": {"family": "ip", "name": "calico"}},
{"chain": {"family": "ip", "table": "calico", "name": "raw-PREROUTING", "type": "filter", "hook": "prerouting", "prio": -300, "policy": "accept"}},
{"rule": {"family": "ip", "table": "calico", "chain": "raw-PREROUTING", "expr": [{"match": {"left": {"meta": {"key": "l4proto"}}, "op": "==", "right": "ipencap"}}, {"drop": null}]}},
{"rule": {"family": "ip", "table": "calico", "chain": "raw-PREROUTING", "expr": [{"match": {"left": {"&": [{"meta": {"key": "mark"}}, 524288]}, "op": "==", "right": 524288}}, {"match": {"left": {"fib": {"flags": ["saddr", "mark", "iif"], "result": "oif"}}, "op": "==", "right": "0"}}, {"drop": null}]}}
]}`
	rs, err := Parse(ruleset)
	if err != nil {
		t.Fatal(err)
	}
	if bad := rs.NotUnderstood(); len(bad) > 0 {
		t.Fatalf("not understood: %v", bad)
	}
	pfx := netip.MustParsePrefix
	ns := &netstack.Netstack{
		Interfaces: []netstack.Interface{
			{Index: 1, Name: "lo", Kind: "loopback", Up: true, Addresses: []netip.Prefix{pfx("127.0.0.1/8")}},
			{Index: 2, Name: "cali1", Kind: "veth", Up: true},
			{Index: 3, Name: "cali2", Kind: "veth", Up: true},
		},
		Routes: []netstack.Route{
			{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: pfx("10.244.0.2/32"), Device: "cali1", Scope: "link"},
			{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: pfx("10.244.0.3/32"), Device: "cali2", Scope: "link"},
		},
	}
	ns.Index()
	env, err := iptables.EnvFromNetstack(ns)
	if err != nil {
		t.Fatal(err)
	}
	fromWorkload := func(p nf.Packet) nf.Packet { p.Mark = 0x80000; return p }
	for name, tc := range map[string]struct {
		pkt  nf.Packet
		want nf.Verdict
	}{
		"own address":         {fromWorkload(pkt(nf.ProtoTCP, "10.244.0.2", 40000, "10.244.1.2", 5432, "cali1")), nf.Accept},
		"another pod's":       {fromWorkload(pkt(nf.ProtoTCP, "10.244.0.3", 40000, "10.244.1.2", 5432, "cali1")), nf.Drop},
		"no route back":       {fromWorkload(pkt(nf.ProtoTCP, "10.9.9.9", 40000, "10.244.1.2", 5432, "cali1")), nf.Drop},
		"not from a workload": {pkt(nf.ProtoTCP, "10.9.9.9", 40000, "10.244.1.2", 5432, "eth0"), nf.Accept},
		"IP-in-IP from a pod": {fromWorkload(pkt(4, "10.244.0.2", 0, "10.244.1.2", 0, "cali1")), nf.Drop},
	} {
		t.Run(name, func(t *testing.T) {
			outs := rs.Traverse(nf.PreRouting, tc.pkt, env, nil)
			if len(outs) != 1 || outs[0].Verdict != tc.want {
				t.Errorf("got %v, want %s\n%s", ways(outs), tc.want, traces(outs))
			}
		})
	}
}
