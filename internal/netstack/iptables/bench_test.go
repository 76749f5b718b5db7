package iptables_test

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/netdiag/netdiag/internal/netstack/iptables"
	"github.com/netdiag/netdiag/internal/netstack/iptables/iptablestest"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// kubeProxy100k is about 100,000 rules: 7,150 services with 3 endpoints and a NodePort
// each (14 rules per service), as iptables-save -c prints them.
var kubeProxy100k = iptablestest.KubeProxy{Services: 7150, EndpointsPerService: 3, NodePorts: true, Counters: true}

func BenchmarkParse(b *testing.B) {
	save := kubeProxy100k.Save()
	rs, err := iptables.Parse(save)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(rs.Rules), "rules")
	b.SetBytes(int64(len(save)))
	b.ReportAllocs()
	// CPU time as well as wall time: on a shared machine the wall time says as much about
	// the neighbours as about the parser.
	start := cpuTime()
	for b.Loop() {
		if _, err := iptables.Parse(save); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-start).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// cpuTime is the user and system time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkTraverseClusterIP(b *testing.B) {
	rs, err := iptables.Parse(kubeProxy100k.Save())
	if err != nil {
		b.Fatal(err)
	}
	env := &iptables.Env{Local: map[netip.Addr]bool{netip.MustParseAddr("172.18.0.2"): true}}
	// The last service: the walk passes every KUBE-SERVICES rule before it.
	pkt := nf.Packet{Src: netip.MustParseAddr("10.244.1.20"), Dst: netip.MustParseAddr(iptablestest.ClusterIP(kubeProxy100k.Services - 1)),
		Proto: nf.ProtoTCP, SrcPort: 40000, DstPort: 80, TCPFlags: nf.TCPSyn, In: "cni0"}
	b.ReportAllocs()
	for b.Loop() {
		if outs := rs.Traverse(nf.PreRouting, pkt, env); len(outs) != 3 {
			b.Fatalf("got %d outcomes, want 3", len(outs))
		}
	}
}

func TestGeneratedRulesetCount(t *testing.T) {
	rs, err := iptables.Parse(kubeProxy100k.Save())
	if err != nil {
		t.Fatal(err)
	}
	if rs.Rules < 100_000 || rs.Rules > 101_000 {
		t.Fatalf("generated %d rules, want about 100,000", rs.Rules)
	}
	// Every service's first packet reaches each endpoint.
	env := &iptables.Env{Local: map[netip.Addr]bool{netip.MustParseAddr("172.18.0.2"): true}}
	for _, i := range []int{0, 4321, kubeProxy100k.Services - 1} {
		pkt := nf.Packet{Src: netip.MustParseAddr("10.244.1.20"), Dst: netip.MustParseAddr(iptablestest.ClusterIP(i)),
			Proto: nf.ProtoTCP, SrcPort: 40000, DstPort: 80, TCPFlags: nf.TCPSyn}
		got := map[string]bool{}
		for _, o := range rs.Traverse(nf.PreRouting, pkt, env) {
			got[o.Packet.Dst.String()] = true
		}
		for j := range 3 {
			if !got[iptablestest.EndpointIP(i, j)] {
				t.Errorf("service %d: no way to endpoint %s; got %v", i, iptablestest.EndpointIP(i, j), got)
			}
		}
	}
}
