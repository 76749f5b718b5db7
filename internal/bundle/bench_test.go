package bundle

import (
	"strings"
	"testing"

	"github.com/netdiag/netdiag/internal/netstack/iptables/iptablestest"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
)

// largeBundle is a bundle of two nodes whose first holds kube-proxy's rules for 10,000
// services of 4 endpoints (about 100,000 rules), the performance figures' large node.
func largeBundle() (*Bundle, int) {
	c := flanneltest.New(flanneltest.VXLAN, 2).
		Pod("shop", "client", 0, map[string]string{"app": "client"}).
		Pod("shop", "web-0", 1, map[string]string{"app": "web"}, 8080).
		Service("shop", "web", map[string]string{"app": "web"}, 80, 8080).
		Build()
	rules := iptablestest.KubeProxy{Services: 10000, EndpointsPerService: 4, Counters: true}.Save()
	c.Host("node-0").IPTables = rules
	return &Bundle{Question: Question{APIVersion: questionAPIVersion, Kind: questionKind, Source: "pod:shop/client", Destination: "service:shop/web", Protocol: "TCP", Port: 80}, Cluster: c.Snapshot, Nodes: c.Nodes}, strings.Count(rules, "-A ")
}

// BenchmarkTarball is what keeping a large diagnosis's bundle costs the controller.
func BenchmarkTarball(b *testing.B) {
	bundle, rules := largeBundle()
	var size int
	for b.Loop() {
		data, err := bundle.Tarball()
		if err != nil {
			b.Fatal(err)
		}
		size = len(data)
	}
	b.ReportMetric(float64(rules), "rules")
	b.ReportMetric(float64(size), "tarball-bytes")
	b.ReportMetric(float64((size+(900<<10)-1)/(900<<10)), "configmaps")
}

// BenchmarkRedact is what --redact costs on a large bundle.
func BenchmarkRedact(b *testing.B) {
	bundle, _ := largeBundle()
	for b.Loop() {
		if _, err := Redact(bundle); err != nil {
			b.Fatal(err)
		}
	}
}
