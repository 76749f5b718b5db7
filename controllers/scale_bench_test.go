package controllers

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack/netfilter"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
	"github.com/netdiag/netdiag/internal/plugins"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The benchmarks below measure the controller at the size of a big cluster (bigCluster:
// 5,000 nodes, 150,000 pods, 20,000 services and slices, 10,000 NetworkPolicies) in the
// controller's real cache, fed through its informers without an API server. Each needs a
// few GiB while the cluster is generated; run them one at a time:
//
//	go test ./controllers -run '^$' -bench 'BenchmarkCacheHeap' -benchtime 1x
//	go test ./controllers -run '^$' -bench 'BenchmarkDiagnosisAtScale' -benchtime 20x -benchmem

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkCacheHeap reports the heap the cache holds once it has synced the big cluster,
// with the snapshot's indexes ("indexed") and without them ("plain", as before), and how
// long the informers took to take the lists in.
func BenchmarkCacheHeap(b *testing.B) {
	for _, name := range []string{"plain", "indexed"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				base := heapInUse()
				gen := &cluster.Snapshot{}
				fillCluster(gen, bigCluster)
				start := time.Now()
				c := objectCache(b, func() *cluster.Snapshot { return gen }, name == "plain")
				took := time.Since(start)
				gen = nil
				heap := heapInUse() - base
				runtime.KeepAlive(c)
				b.ReportMetric(float64(heap)/(1<<20), "MiB-heap")
				b.ReportMetric(took.Seconds(), "s-sync")
			}
		})
	}
}

// BenchmarkDiagnosisAtScale is one diagnosis as the controller makes it in the big cluster:
// the cluster snapshot built from the cache, the endpoints resolved, the plan, the engine
// (client to a service with two backends, its nodes' state given). "lists" builds the
// snapshot as the controller did before, copying every object of the cache into lists;
// "indexed" as it does now.
func BenchmarkDiagnosisAtScale(b *testing.B) {
	c := lookupWorkload(flanneltest.New(flanneltest.VXLAN, 3), bigCluster)
	objects := objectCache(b, func() *cluster.Snapshot { return c.Snapshot })
	ctx := context.Background()
	// One engine for every diagnosis, as the manager keeps one.
	engine := &diagnose.Diagnostor{Plugins: plugins.Registry(), Rulesets: netfilter.NewCache(netfilter.DefaultCacheSize)}
	for name, build := range map[string]func(context.Context, client.Reader) (*cluster.Snapshot, error){
		"lists":   listSnapshot,
		"indexed": clusterSnapshot,
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				snap, err := build(ctx, objects)
				if err != nil {
					b.Fatal(err)
				}
				res := diagnoseAt(b, engine, snap, c)
				if res.Verdict != diagnose.Reachable {
					b.Fatalf("diagnosis: %s", res.Summary)
				}
			}
		})
	}
}

func diagnoseAt(b *testing.B, engine *diagnose.Diagnostor, snap *cluster.Snapshot, c *fixture.Cluster) *diagnose.Result {
	b.Helper()
	src, err := snap.Resolve(cluster.EndpointRef{Type: model.EndpointPod, Namespace: "shop", Name: "client"})
	if err != nil {
		b.Fatal(err)
	}
	dst, err := snap.Resolve(cluster.EndpointRef{Type: model.EndpointService, Namespace: "shop", Name: "web"})
	if err != nil {
		b.Fatal(err)
	}
	q := model.Question{Source: src, Destination: dst, Protocol: model.TCP, Port: 80}
	if plan := diagnose.Plan(snap, q); len(plan.Nodes()) != 3 {
		b.Fatalf("plan: %v", plan.Nodes())
	}
	res, err := engine.Diagnose(diagnose.Input{Cluster: snap, Nodes: c.Nodes, Question: q})
	if err != nil {
		b.Fatal(err)
	}
	return res
}

// TestHundredDiagnosesAtOnce creates 100 diagnoses at once on a real API server, with
// collectors that answer at once, and requires them all final within 20 s. It runs when
// NETDIAG_SCALE is set:
//
//	NETDIAG_SCALE=1 go test ./controllers -run TestHundredDiagnosesAtOnce -v
func TestHundredDiagnosesAtOnce(t *testing.T) {
	if os.Getenv("NETDIAG_SCALE") == "" || testing.Short() {
		t.Skip("set NETDIAG_SCALE to run the 100-at-once figure")
	}
	const n, limit = 100, 20 * time.Second
	e := startBenchEnv(t)
	start := time.Now()
	var names []string
	for i := range n {
		name := "at-once-" + strconv.Itoa(i)
		e.create(t, name)
		names = append(names, name)
	}
	e.waitFinished(t, names...)
	took := time.Since(start)
	t.Logf("%d diagnoses created at once, all final in %v", n, took.Round(10*time.Millisecond))
	if took > limit {
		t.Errorf("%d diagnoses took %v to reach a final phase, over %v", n, took, limit)
	}
}

// TestEnvtestLoadRate measures how fast a real API server (envtest's etcd and
// kube-apiserver) takes in generated pods, and how long the controller's cache then takes to
// sync them: the figure that decides whether the big cluster can be measured through a real
// API server on this machine. It runs when NETDIAG_SCALE is set.
func TestEnvtestLoadRate(t *testing.T) {
	if os.Getenv("NETDIAG_SCALE") == "" || testing.Short() {
		t.Skip("set NETDIAG_SCALE to measure the API server's load rate")
	}
	const pods = 10000
	s := newScheme()
	env := newTestEnv(s)
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	fast := rest.CopyConfig(cfg)
	fast.QPS, fast.Burst = 5000, 10000
	c, err := client.New(fast, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	gen := &cluster.Snapshot{}
	fillCluster(gen, clusterSize{nodes: pods / 30, podsPerNode: 30, namespaces: 10, servicesPerNamespace: 1, policiesPerNamespace: 0})
	for i := range gen.Namespaces {
		ns := &gen.Namespaces[i]
		ns.ResourceVersion, ns.UID = "", ""
		if err := c.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	work := make(chan *corev1.Pod)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for p := range work {
				p.ResourceVersion, p.UID, p.ManagedFields = "", "", nil
				if err := c.Create(ctx, p); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i := range gen.Pods {
		work <- &gen.Pods[i]
	}
	close(work)
	wg.Wait()
	created := time.Since(start)
	start = time.Now()
	objects, err := cache.New(cfg, CacheOptions(controllerNamespace))
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if _, err := objects.GetInformer(cctx, &corev1.Pod{}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = objects.Start(cctx) }()
	if !objects.WaitForCacheSync(cctx) {
		t.Fatal("the cache did not sync")
	}
	t.Logf("%d pods created in %v (%.0f a second); the cache synced them in %v", pods, created.Round(time.Millisecond),
		float64(len(gen.Pods))/created.Seconds(), time.Since(start).Round(time.Millisecond))
}
