package diagnose

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack/netfilter"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
	"github.com/netdiag/netdiag/internal/plugins"
)

var (
	spreadOnce sync.Once
	spread     *fixture.Cluster
)

// spreadCluster is 500 nodes with the service ns-big/big of 1,000 endpoints, two on every
// node, beside 10,000 services of 3 endpoints (about 113,000 iptables rules per node), built
// once per test binary.
func spreadCluster() *fixture.Cluster {
	spreadOnce.Do(func() {
		c := flanneltest.New(flanneltest.VXLAN, 500)
		for i := range 1000 {
			c.Pod("ns-big", fmt.Sprintf("big-%d", i), i%500, map[string]string{"app": "big"}, 8080)
		}
		c.Service("ns-big", "big", map[string]string{"app": "big"}, 80, 8080)
		spread = fixture.Large(c, 10000, 3).WriteDigests()
	})
	return spread
}

// BenchmarkDiagnoseSpreadService is one diagnosis from client-0 on node-0 to a service of
// 1,000 endpoints on 500 nodes, every node collected, rules already parsed: the walk
// follows the endpoints on the manager's default 64 nodes and says so.
func BenchmarkDiagnoseSpreadService(b *testing.B) {
	c := spreadCluster()
	src, err := c.Snapshot.Resolve(mustRef(b, "pod:ns-0/client-0"))
	if err != nil {
		b.Fatal(err)
	}
	dst, err := c.Snapshot.Resolve(mustRef(b, "service:ns-big/big"))
	if err != nil {
		b.Fatal(err)
	}
	q := model.Question{Source: src, Destination: dst, Protocol: model.TCP, Port: 80}
	b.ReportMetric(float64(fixture.RuleCount(c.Host("node-0").IPTables)), "rules/node")
	d := &Diagnostor{Plugins: plugins.Registry(), Rulesets: netfilter.NewCache(netfilter.DefaultCacheSize)}
	plan := Plan(c.Snapshot, q)
	in := Input{Cluster: c.Snapshot, Nodes: collected(c, plan), Question: q}
	if _, err := d.Diagnose(in); err != nil {
		b.Fatal(err)
	}
	sampler := newPeakSampler()
	defer sampler.stop()
	var worst uint64
	branches := 0
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		base := sampler.reset()
		b.StartTimer()
		res, err := d.Diagnose(in)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if res.Verdict != Reachable || !strings.Contains(res.Summary, "of 1000 endpoints") {
			b.Fatalf("verdict %s: %s", res.Verdict, res.Summary)
		}
		branches = len(res.Path.Branches)
		worst = max(worst, sampler.peak()-base)
		b.StartTimer()
	}
	b.ReportMetric(float64(len(plan.Nodes())), "nodes-collected")
	b.ReportMetric(float64(branches), "branches")
	b.ReportMetric(float64(worst)/(1<<20), "peak-heap-MB")
}
