package diagnose

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack/netfilter"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
	"github.com/netdiag/netdiag/internal/plugins"
)

var (
	largeOnce sync.Once
	large     *fixture.Cluster
)

// largeCluster is 1,000 nodes, 10,000 services of 3 endpoints (30,001 pods) and about
// 110,000 iptables rules per node, built once per test binary.
func largeCluster() *fixture.Cluster {
	largeOnce.Do(func() { large = fixture.Large(flanneltest.New(flanneltest.VXLAN, 1000), 10000, 3).WriteDigests() })
	return large
}

// largeQuestion is the question of the generated clusters: client-0 on node-0 to the service
// ns-0/svc-0, TCP port 80, whose endpoints are on other nodes.
func largeQuestion(b *testing.B, c *fixture.Cluster) model.Question {
	b.Helper()
	src, err := c.Snapshot.Resolve(mustRef(b, "pod:ns-0/client-0"))
	if err != nil {
		b.Fatal(err)
	}
	dst, err := c.Snapshot.Resolve(mustRef(b, "service:ns-0/svc-0"))
	if err != nil {
		b.Fatal(err)
	}
	return model.Question{Source: src, Destination: dst, Protocol: model.TCP, Port: 80}
}

func mustRef(b *testing.B, s string) cluster.EndpointRef {
	b.Helper()
	r, err := ParseEndpointRef(s)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkDiagnose is one diagnosis, pod to a service whose three endpoints are on other
// nodes, on the large cluster, with the parsed rulesets in one cache shared by every
// iteration, as a running controller shares it between diagnoses. BenchmarkDiagnoseCold
// gives every iteration a fresh cache, so it parses them each time.
// Both report the peak heap in use above the snapshot itself.
func BenchmarkDiagnose(b *testing.B) { benchmarkDiagnose(b, false) }

// BenchmarkDiagnoseCold parses the rulesets in every diagnosis.
func BenchmarkDiagnoseCold(b *testing.B) { benchmarkDiagnose(b, true) }

func benchmarkDiagnose(b *testing.B, cold bool) {
	c := largeCluster()
	q := largeQuestion(b, c)
	b.ReportMetric(float64(fixture.RuleCount(c.Host("node-0").IPTables)), "rules/node")
	d := &Diagnostor{Plugins: plugins.Registry(), Rulesets: netfilter.NewCache(netfilter.DefaultCacheSize)}
	// The snapshot's own indexes are built once, as a controller's informer cache would.
	if _, err := d.Diagnose(Input{Cluster: c.Snapshot, Nodes: c.Nodes, Question: q}); err != nil {
		b.Fatal(err)
	}
	// Each diagnosis starts from a collected heap, so the peak says what one diagnosis needs
	// above the snapshot, not how much garbage earlier iterations left for the collector.
	sampler := newPeakSampler()
	defer sampler.stop()
	var worst uint64
	for b.Loop() {
		b.StopTimer()
		if cold {
			d.Rulesets = netfilter.NewCache(netfilter.DefaultCacheSize)
		}
		runtime.GC()
		base := sampler.reset()
		b.StartTimer()
		res, err := d.Diagnose(Input{Cluster: c.Snapshot, Nodes: c.Nodes, Question: q})
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if res.Verdict != Reachable {
			b.Fatalf("verdict %s: %s", res.Verdict, res.Summary)
		}
		worst = max(worst, sampler.peak()-base)
		b.StartTimer()
	}
	b.ReportMetric(float64(worst)/(1<<20), "peak-heap-MB")
}

// peakSampler samples HeapInuse every 2 ms while a benchmark runs.
type peakSampler struct {
	done chan struct{}
	max  atomic.Uint64
}

func newPeakSampler() *peakSampler {
	p := &peakSampler{done: make(chan struct{})}
	go func() {
		var m runtime.MemStats
		for {
			select {
			case <-p.done:
				return
			default:
			}
			runtime.ReadMemStats(&m)
			for {
				have := p.max.Load()
				if m.HeapInuse <= have || p.max.CompareAndSwap(have, m.HeapInuse) {
					break
				}
			}
			// ReadMemStats stops the world: sample, do not spin.
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return p
}

// reset starts a new peak from the heap in use now, and returns that as the base.
func (p *peakSampler) reset() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	p.max.Store(m.HeapInuse)
	return m.HeapInuse
}

// peak is the largest heap in use seen since the last reset.
func (p *peakSampler) peak() uint64 { return p.max.Load() }

func (p *peakSampler) stop() { close(p.done) }
