package calico_test

import (
	"fmt"
	"testing"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack/netfilter"
	"github.com/netdiag/netdiag/internal/plugin/calico/calicotest"
	"github.com/netdiag/netdiag/internal/plugins"
)

// BenchmarkDiagnoseCalico diagnoses a pod-to-service flow on a calico cluster of 200 nodes
// and 2,000 pods behind 1,000 services, in each mode: the service forks the packet to both
// endpoints on other nodes, and every node's ruleset carries kube-proxy's rules and felix's
// per-workload chains.
func BenchmarkDiagnoseCalico(b *testing.B) {
	for _, mode := range []string{calicotest.Routed, calicotest.VXLAN, calicotest.IPIP} {
		b.Run(mode, func(b *testing.B) {
			const nodes, services = 200, 1000
			c := calicotest.New(mode, nodes).Pod("ns-0", "client-0", 0, map[string]string{"app": "client"})
			next := 1
			for s := range services {
				app := fmt.Sprintf("svc-%d", s)
				for e := range 2 {
					c.Pod(fmt.Sprintf("ns-%d", s%10), fmt.Sprintf("%s-%d", app, e), next%nodes, map[string]string{"app": app}, 8080)
					next++
				}
				c.Service(fmt.Sprintf("ns-%d", s%10), app, map[string]string{"app": app}, 80, 8080)
			}
			c.Build()
			for _, n := range c.Nodes {
				n.Index()
			}
			src, err := c.Snapshot.Resolve(mustRef(b, "pod:ns-0/client-0"))
			if err != nil {
				b.Fatal(err)
			}
			dst, err := c.Snapshot.Resolve(mustRef(b, "service:ns-0/svc-0"))
			if err != nil {
				b.Fatal(err)
			}
			in := diagnose.Input{Cluster: c.Snapshot, Nodes: c.Nodes, Question: model.Question{Source: src, Destination: dst, Protocol: model.TCP, Port: 80}}
			// One cache across the diagnoses, as a running controller keeps it.
			d := &diagnose.Diagnostor{Plugins: plugins.Registry(), Rulesets: netfilter.NewCache(netfilter.DefaultCacheSize)}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				res, err := d.Diagnose(in)
				if err != nil {
					b.Fatal(err)
				}
				if res.Verdict != diagnose.Reachable {
					b.Fatalf("verdict %s: %s", res.Verdict, res.Summary)
				}
			}
		})
	}
}

func mustRef(b *testing.B, s string) cluster.EndpointRef {
	ref, err := diagnose.ParseEndpointRef(s)
	if err != nil {
		b.Fatal(err)
	}
	return ref
}
