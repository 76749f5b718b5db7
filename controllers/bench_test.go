package controllers

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"strings"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/transport"
)

// The benchmarks measure the controller's share of a diagnosis on a real API server: from
// creating the object to its final status, with collectors that answer at once (a goroutine
// plays kubelet and collector). Run them alone:
//
//	go test ./controllers -run '^$' -bench . -benchtime 20x

// benchEnv is a running API server and controller with a two-node workload.
type benchEnv struct {
	c  client.Client
	ns string
}

func startBenchEnv(b testing.TB) *benchEnv {
	b.Helper()
	logf.SetLogger(funcr.New(func(prefix, args string) {
		if strings.Contains(args, "error") {
			fmt.Println("LOG", prefix, args)
		}
	}, funcr.Options{}))
	s := newScheme()
	env := newTestEnv(s)
	cfg, err := env.Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := env.Stop(); err != nil {
			b.Errorf("stop etcd and kube-apiserver: %v", err)
		}
	})
	// The harness must not be what waits: lift client-go's default 5 requests a second.
	harness := rest.CopyConfig(cfg)
	harness.QPS, harness.Burst = 1000, 2000
	c, err := client.New(harness, client.Options{Scheme: s})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controllerNamespace}}))
	must(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}))
	for i, name := range []string{"n1", "n2"} {
		node := MakeNode(name).IP(fmt.Sprintf("192.168.0.%d", i+1)).Obj()
		must(createWithStatus(ctx, c, node, &node.Status))
	}
	var backends []*corev1.Pod
	for i, p := range []*PodWrapper{
		MakePod("web", "shop").On("n1", "10.244.1.2"),
		MakePod("db-1", "shop").Label("app", "db").On("n1", "10.244.1.3"),
		MakePod("db-2", "shop").Label("app", "db").On("n2", "10.244.2.3"),
	} {
		pod := p.Obj()
		must(createWithStatus(ctx, c, pod, &pod.Status))
		if i > 0 {
			backends = append(backends, pod)
		}
	}
	must(c.Create(ctx, MakeService("db", "shop").Port(5432, 5432).Obj()))
	must(c.Create(ctx, MakeEndpointSlice("db", "shop").Port(5432).Endpoint(backends[0]).Endpoint(backends[1]).Obj()))

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: s, Cache: CacheOptions(controllerNamespace),
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	must(err)
	// The benchmarks measure throughput, not the load caps: none apply.
	r := &NetworkDiagnosisReconciler{Namespace: controllerNamespace, CollectorImage: collectorImage, Clock: clock.RealClock{}, MaxConcurrentReconciles: 4, Caps: &LoadCaps{}}
	must(r.SetupWithManager(ctx, mgr))
	go func() { _ = mgr.Start(ctx) }()
	go playCollectors(ctx, c)
	return &benchEnv{c: c, ns: "shop"}
}

// playCollectors answers every new collector pod at once: snapshot uploaded, pod Succeeded.
func playCollectors(ctx context.Context, c client.Client) {
	done := map[string]bool{}
	_ = wait.PollUntilContextCancel(ctx, 10*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods := &corev1.PodList{}
		if err := c.List(ctx, pods, client.InNamespace(controllerNamespace),
			client.MatchingLabels{transport.LabelComponent: transport.ComponentCollector}); err != nil {
			return false, nil
		}
		var wg sync.WaitGroup
		for i := range pods.Items {
			pod := &pods.Items[i]
			if done[pod.Name] || pod.DeletionTimestamp != nil {
				continue
			}
			done[pod.Name] = true
			wg.Go(func() { answer(ctx, c, pod) })
		}
		wg.Wait()
		return false, nil
	})
}

func answer(ctx context.Context, c client.Client, pod *corev1.Pod) {
	args := pod.Spec.Containers[0].Args
	flag := func(name string) string {
		for i := 0; i+1 < len(args); i++ {
			if args[i] == name {
				return args[i+1]
			}
		}
		return ""
	}
	snap := &netstack.NodeSnapshot{Version: netstack.Version, Node: flag("--node"), Host: netstack.Netstack{
		Interfaces: []netstack.Interface{{Index: 2, Name: "eth0", Kind: "device", MTU: 1500, Up: true, Addresses: []netip.Prefix{netip.MustParsePrefix("192.168.0.1/24")}}},
	}}
	cms, err := transport.Encode(snap, flag("--upload-namespace"), flag("--snapshot-prefix"), flag("--diagnosis-uid"))
	if err != nil {
		return
	}
	transport.SetOwner(cms, pod.Name, pod.UID)
	for _, cm := range cms {
		if err := c.Create(ctx, cm); err != nil {
			fmt.Println("bench collector: upload:", err)
		}
	}
	err = retry.OnError(retry.DefaultBackoff, func(error) bool { return true }, func() error {
		cur := &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(pod), cur); err != nil {
			return err
		}
		cur.Status.Phase = corev1.PodSucceeded
		return c.Status().Update(ctx, cur)
	})
	if err != nil {
		fmt.Println("bench collector: pod status:", err)
	}
}

// waitFinished waits for the diagnoses to reach a final phase.
func (e *benchEnv) waitFinished(b testing.TB, names ...string) {
	b.Helper()
	for _, name := range names {
		nd := &diagv1alpha1.NetworkDiagnosis{}
		err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			if err := e.c.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: name}, nd); err != nil {
				return false, nil
			}
			if nd.Status.Phase == diagv1alpha1.PhaseFailed {
				return false, fmt.Errorf("diagnosis %s failed: %s", name, nd.Status.Summary)
			}
			return nd.Status.Phase == diagv1alpha1.PhaseSucceeded, nil
		})
		if err != nil {
			pods := &corev1.PodList{}
			_ = e.c.List(context.Background(), pods, client.InNamespace(controllerNamespace))
			for _, p := range pods.Items {
				b.Logf("pod %s phase %q deleting %v", p.Name, p.Status.Phase, p.DeletionTimestamp != nil)
			}
			cms := &corev1.ConfigMapList{}
			_ = e.c.List(context.Background(), cms, client.InNamespace(controllerNamespace))
			for _, cm := range cms.Items {
				b.Logf("configmap %s", cm.Name)
			}
			b.Fatalf("diagnosis %s: %v; collectors %+v", name, err, nd.Status.Collectors)
		}
	}
}

func (e *benchEnv) create(b testing.TB, name string) {
	b.Helper()
	if err := e.c.Create(context.Background(), MakeDiagnosis(name, e.ns).FromPod("web").ToService("db", 5432).Obj()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDiagnosisToSucceeded is the time from creating a diagnosis (two nodes to
// collect) to its Succeeded status, one at a time.
func BenchmarkDiagnosisToSucceeded(b *testing.B) {
	e := startBenchEnv(b)
	i := 0
	for b.Loop() {
		name := fmt.Sprintf("one-%d", i)
		i++
		e.create(b, name)
		e.waitFinished(b, name)
	}
}

// BenchmarkDiagnosesInFlight creates 50 diagnoses at once and reports how many the
// controller completes per minute.
func BenchmarkDiagnosesInFlight(b *testing.B) {
	const inFlight = 50
	e := startBenchEnv(b)
	round := 0
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		var names []string
		for j := range inFlight {
			name := fmt.Sprintf("many-%d-%d", round, j)
			e.create(b, name)
			names = append(names, name)
		}
		e.waitFinished(b, names...)
		total += time.Since(start)
		round++
	}
	b.ReportMetric(float64(inFlight*round)/total.Minutes(), "diagnoses/min")
}
