package nftables

import (
	"os"
	"testing"

	"github.com/netdiag/netdiag/internal/netstack/iptables"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

func BenchmarkParseKubeProxy(b *testing.B) {
	text, err := os.ReadFile("../iptables/testdata/kube-proxy.nft.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(string(text)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTraverseClusterIP(b *testing.B) {
	text, err := os.ReadFile("../iptables/testdata/kube-proxy.nft.json")
	if err != nil {
		b.Fatal(err)
	}
	rs, err := Parse(string(text))
	if err != nil {
		b.Fatal(err)
	}
	env := &iptables.Env{}
	p := pkt(nf.ProtoTCP, "10.244.1.20", 40000, "10.96.0.10", 80, "cni0")
	b.ReportAllocs()
	for b.Loop() {
		if outs := rs.Traverse(nf.PreRouting, p, env, nil); len(outs) != 3 {
			b.Fatalf("%d outcomes, want 3", len(outs))
		}
	}
}
