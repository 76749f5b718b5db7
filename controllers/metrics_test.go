package controllers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/metrics"
	"github.com/netdiag/netdiag/internal/transport"
)

var (
	// metricsRegistry is the suite's own registry, which the suite's reconcilers record to.
	metricsRegistry = prometheus.NewPedanticRegistry()
	suiteMetrics    = func() *metrics.Metrics {
		// k8sClient is set when the suite starts, after this runs.
		m := metrics.New(metrics.Options{
			CollectorsInFlight: func(ctx context.Context) (map[string]int, error) {
				return CollectorsInFlight(k8sClient, controllerNamespace)(ctx)
			},
			DiagnosesWaiting: func(ctx context.Context) (map[string]int, error) { return DiagnosesWaiting(k8sClient)(ctx) },
		})
		utilruntime.Must(m.Register(metricsRegistry))
		return m
	}()
)

// sample is what a scrape shows of some series: the sum of counters' or gauges' values, of
// histograms' counts and sums.
type sample struct{ value, count, sum float64 }

// scrape gathers the suite's registry and sums the series of name whose labels include
// labels (name, value, name, value...); zero when there are none yet.
func scrape(g Gomega, name string, labels ...string) sample {
	return gather(g, metricsRegistry, name, labels...)
}

func gather(g Gomega, reg prometheus.Gatherer, name string, labels ...string) sample {
	families, err := reg.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	var out sample
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !hasLabels(m, want) {
				continue
			}
			out.value += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			out.count += float64(m.GetHistogram().GetSampleCount())
			out.sum += m.GetHistogram().GetSampleSum()
		}
	}
	return out
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

var _ = Describe("NetworkDiagnosis controller metrics", func() {
	var (
		ns             string
		node1, node2   string
		node1IP        string
		web, db1, db2  *corev1.Pod
		inFlight       func(g Gomega) (pending, running float64)
		phaseCount     func(g Gomega, phase string) float64
		collectorFails func(g Gomega, reason string) float64
	)

	BeforeEach(func(ctx SpecContext) {
		deleteAllDiagnoses(ctx)
		ns = newNamespace(ctx)
		node1, node2 = ns+"-n1", ns+"-n2"
		node1IP = nextIP("192.168.0.0")
		createNode(ctx, MakeNode(node1).IP(node1IP).PodCIDR("10.244.1.0/24").Ready(corev1.ConditionTrue))
		createNode(ctx, MakeNode(node2).IP(nextIP("192.168.0.0")).PodCIDR("10.244.2.0/24").Ready(corev1.ConditionTrue))
		web = createPod(ctx, MakePod("web", ns).On(node1, nextIP("10.244.0.0")))
		db1 = createPod(ctx, MakePod("db-1", ns).Label("app", "db").On(node1, nextIP("10.244.0.0")).ContainerPort(5432))
		db2 = createPod(ctx, MakePod("db-2", ns).Label("app", "db").On(node2, nextIP("10.244.0.0")).ContainerPort(5432))
		createService(ctx, MakeService("db", ns).Port(5432, 5432))
		createEndpointSlice(ctx, MakeEndpointSlice("db", ns).Port(5432).Endpoint(db1).Endpoint(db2))
		Expect(web).NotTo(BeNil())

		inFlight = func(g Gomega) (float64, float64) {
			return scrape(g, metrics.NameCollectorsInFlight, "phase", "Pending").value,
				scrape(g, metrics.NameCollectorsInFlight, "phase", "Running").value
		}
		phaseCount = func(g Gomega, phase string) float64 {
			return scrape(g, metrics.NamePhaseDuration, "phase", phase).count
		}
		collectorFails = func(g Gomega, reason string) float64 {
			return scrape(g, metrics.NameCollectorFailures, "reason", reason).value
		}
	})

	// Diagnoses other specs left running share the manager and may finish meanwhile (their
	// timeouts pass as specs step the clock): the specs check that the series they move
	// moved, and TestRecordMetrics checks by how much.

	It("counts a Succeeded diagnosis by verdict and reason, times its phases, its snapshot and its engine, and follows its collector", func(ctx SpecContext) {
		g := Default
		_, running0 := inFlight(g)
		succeeded0 := scrape(g, metrics.NameDiagnosesFinished, "result", "Succeeded").value
		resolve0, diagnose0 := phaseCount(g, metrics.PhaseResolve), phaseCount(g, metrics.PhaseDiagnose)
		collect0 := scrape(g, metrics.NamePhaseDuration, "phase", metrics.PhaseCollect)
		snapshots0 := scrape(g, metrics.NameSnapshotBytes)
		engine0 := scrape(g, metrics.NameEngineDuration)
		took0 := scrape(g, metrics.NameDiagnosisDuration, "result", "Succeeded")

		nd := createDiagnosis(ctx, MakeDiagnosis("web-to-db-1", ns).FromPod("web").ToPod("db-1", 5432))
		pods := waitForCollectors(ctx, nd, node1)
		Eventually(func(g Gomega) float64 { pending, _ := inFlight(g); return pending }).Should(BeNumerically(">=", 1), "the collector pod counted Pending")
		setPodPhase(ctx, pods[node1], corev1.PodRunning, nil)
		Eventually(func(g Gomega) float64 { _, running := inFlight(g); return running }).Should(BeNumerically(">=", running0+1), "the collector pod counted Running")
		Expect(phaseCount(g, metrics.PhaseResolve)).To(BeNumerically(">", resolve0), "resolving is timed")

		// The collection takes 7s by the controller's clock.
		waitForPhase(ctx, nd, diagv1alpha1.PhaseCollecting)
		fakeClock.Step(7 * time.Second)
		collect(ctx, pods[node1], node1IP)
		got := waitForPhase(ctx, nd, diagv1alpha1.PhaseSucceeded)
		Expect(got.Status.Verdict).NotTo(BeEmpty())

		Eventually(func(g Gomega) float64 {
			return scrape(g, metrics.NameDiagnosesFinished, "result", "Succeeded", "verdict", string(got.Status.Verdict), "reason", got.Status.Why).value
		}).Should(BeNumerically(">=", 1), "the series of its verdict and reason")
		Expect(scrape(g, metrics.NameDiagnosesFinished, "result", "Succeeded").value).To(BeNumerically(">", succeeded0))
		collectTook := scrape(g, metrics.NamePhaseDuration, "phase", metrics.PhaseCollect)
		Expect(collectTook.count).To(BeNumerically(">", collect0.count))
		Expect(collectTook.sum-collect0.sum).To(BeNumerically(">=", 7), "the collection's time, by the controller's clock")
		Expect(phaseCount(g, metrics.PhaseDiagnose)).To(BeNumerically(">", diagnose0))
		snapshots := scrape(g, metrics.NameSnapshotBytes)
		Expect(snapshots.count).To(BeNumerically(">", snapshots0.count), "the node snapshot received")
		Expect(snapshots.sum-snapshots0.sum).To(BeNumerically(">", 100), "its compressed bytes")
		Expect(scrape(g, metrics.NameEngineDuration).count).To(BeNumerically(">", engine0.count))
		took := scrape(g, metrics.NameDiagnosisDuration, "result", "Succeeded")
		Expect(took.count).To(BeNumerically(">", took0.count))
		Expect(took.sum-took0.sum).To(BeNumerically(">=", 7), "start to end includes the collection")
		Eventually(func(g Gomega) float64 { _, running := inFlight(g); return running }).Should(BeNumerically("<=", running0), "a finished collector is not in flight")
	})

	It("counts a Failed diagnosis by its condition reason", func(ctx SpecContext) {
		g := Default
		failed := func(g Gomega) float64 {
			return scrape(g, metrics.NameDiagnosesFinished, "result", "Failed", "verdict", "", "reason", diagv1alpha1.ReasonSourceNotFound).value
		}
		failed0, resolve0 := failed(g), phaseCount(g, metrics.PhaseResolve)
		nd := createDiagnosis(ctx, MakeDiagnosis("ghost", ns).FromPod("ghost").ToService("db", 5432))
		waitForPhase(ctx, nd, diagv1alpha1.PhaseFailed)
		Eventually(failed).Should(BeNumerically(">", failed0))
		Expect(phaseCount(g, metrics.PhaseResolve)).To(BeNumerically(">", resolve0))
	})

	It("counts collectors that fail and collectors that time out by reason", func(ctx SpecContext) {
		g := Default
		podFailed0, timeout0 := collectorFails(g, diagv1alpha1.ReasonCollectorFailed), collectorFails(g, diagv1alpha1.ReasonTimeout)
		timedOut := func(g Gomega) float64 {
			return scrape(g, metrics.NameDiagnosesFinished, "result", "Failed", "reason", diagv1alpha1.ReasonTimeout).value
		}
		timedOut0 := timedOut(g)

		nd := createDiagnosis(ctx, MakeDiagnosis("slow", ns).FromPod("web").ToService("db", 5432).Timeout(metav1.Duration{Duration: 30 * time.Second}))
		pods := waitForCollectors(ctx, nd, node1, node2)
		setPodPhase(ctx, pods[node2], corev1.PodFailed, &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"})
		Eventually(func(g Gomega) float64 { return collectorFails(g, diagv1alpha1.ReasonCollectorFailed) }).Should(BeNumerically(">", podFailed0))

		fakeClock.Step(31 * time.Second)
		poke(ctx, nd)
		waitForPhase(ctx, nd, diagv1alpha1.PhaseFailed)
		Eventually(func(g Gomega) float64 { return collectorFails(g, diagv1alpha1.ReasonTimeout) }).Should(BeNumerically(">", timeout0))
		Expect(timedOut(g)).To(BeNumerically(">", timedOut0))
	})

	It("counts the diagnoses waiting under a cap, by the cap", func(ctx SpecContext) {
		stopManager()
		stopManager = startManager(func(r *NetworkDiagnosisReconciler) { r.Caps = &LoadCaps{PerNamespace: 1} })
		DeferCleanup(func() {
			stopManager()
			stopManager = startManager()
		})
		waiting := func(g Gomega) float64 {
			return scrape(g, metrics.NameDiagnosesWaiting, "reason", diagv1alpha1.ReasonNamespaceCapReached).value
		}
		first := createDiagnosis(ctx, MakeDiagnosis("first", ns).FromPod("web").ToPod("db-1", 5432))
		pods := waitForCollectors(ctx, first, node1)
		waitForPhase(ctx, first, diagv1alpha1.PhaseCollecting)
		Expect(waiting(Default)).To(BeZero())
		second := createDiagnosis(ctx, MakeDiagnosis("second", ns).FromPod("web").ToPod("db-1", 5432))
		Eventually(waiting).Should(BeEquivalentTo(1), "the second waits for the namespace's cap")
		Expect(scrape(Default, metrics.NameDiagnosesWaiting, "reason", diagv1alpha1.ReasonInFlightCapReached).value).To(BeZero())

		collect(ctx, pods[node1], node1IP)
		waitForPhase(ctx, first, diagv1alpha1.PhaseSucceeded)
		waitForCollectors(ctx, second, node1)
		Eventually(waiting).Should(BeZero(), "the second started when the first finished")
	})
})

// TestCollectorFailureReason holds the reasons to what collectorStatus and giveUp write.
func TestCollectorFailureReason(t *testing.T) {
	pod := func(phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{Phase: phase}}
	}
	for name, tc := range map[string]struct {
		status diagv1alpha1.CollectorStatus
		want   string
	}{
		"pod failed":                    {collectorStatus("n1", "p", pod(corev1.PodFailed), snapshotState{}), diagv1alpha1.ReasonCollectorFailed},
		"pod exited without a snapshot": {collectorStatus("n1", "p", pod(corev1.PodSucceeded), snapshotState{}), diagv1alpha1.ReasonCollectorFailed},
		"snapshot unreadable":           {collectorStatus("n1", "p", pod(corev1.PodSucceeded), snapshotState{Err: errors.New("bad gzip")}), diagv1alpha1.ReasonCollectorFailed},
		"snapshot over a limit":         {collectorStatus("n1", "p", pod(corev1.PodSucceeded), snapshotState{Err: &transport.LimitError{What: "decoded size", Max: "1 B"}}), diagv1alpha1.ReasonCollectorFailed},
		"pending past the deadline":     {giveUp(collectorStatus("n1", "p", pod(corev1.PodPending), snapshotState{}), time.Minute), diagv1alpha1.ReasonTimeout},
		"running past the deadline":     {giveUp(collectorStatus("n1", "p", pod(corev1.PodRunning), snapshotState{}), time.Minute), diagv1alpha1.ReasonTimeout},
		"node gone":                     {diagv1alpha1.CollectorStatus{Node: "n1", Phase: diagv1alpha1.CollectorFailed, Reason: diagv1alpha1.ReasonNodeGone}, diagv1alpha1.ReasonNodeGone},
		"written without a reason":      {diagv1alpha1.CollectorStatus{Node: "n1", Phase: diagv1alpha1.CollectorFailed}, diagv1alpha1.ReasonCollectorFailed},
	} {
		if tc.status.Phase != diagv1alpha1.CollectorFailed {
			t.Fatalf("%s: the case is not a failure: %+v", name, tc.status)
		}
		if got := collectorFailureReason(tc.status); got != tc.want {
			t.Errorf("%s: reason %q, want %q (message %q)", name, got, tc.want, tc.status.Message)
		}
	}
}

// TestRecordMetrics checks what one reconcile's change of status records, on a registry of
// its own: each move once, and nothing when nothing moved.
func TestRecordMetrics(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	collecting := diagv1alpha1.NetworkDiagnosisStatus{
		Phase:              diagv1alpha1.PhaseCollecting,
		ObservedGeneration: 1,
		StartTime:          ptrTime(t0),
		Conditions: []metav1.Condition{{Type: diagv1alpha1.ConditionCollected, Status: metav1.ConditionUnknown,
			Reason: diagv1alpha1.ReasonCollecting, LastTransitionTime: metav1.NewTime(t0.Add(time.Second))}},
		Collectors: []diagv1alpha1.CollectorStatus{
			{Node: "n1", Phase: diagv1alpha1.CollectorRunning},
			{Node: "n2", Phase: diagv1alpha1.CollectorRunning},
		},
	}
	succeeded := diagv1alpha1.NetworkDiagnosisStatus{
		Phase:              diagv1alpha1.PhaseSucceeded,
		ObservedGeneration: 1,
		StartTime:          ptrTime(t0),
		Verdict:            diagv1alpha1.VerdictUnreachable,
		Why:                "RouteMissing",
		Collectors: []diagv1alpha1.CollectorStatus{
			{Node: "n1", Phase: diagv1alpha1.CollectorCollected},
			giveUp(diagv1alpha1.CollectorStatus{Node: "n2", Phase: diagv1alpha1.CollectorRunning}, time.Minute),
		},
	}
	failedAgain := diagv1alpha1.NetworkDiagnosisStatus{
		Phase:     diagv1alpha1.PhaseFailed,
		StartTime: ptrTime(t0.Add(time.Hour)),
		Conditions: []metav1.Condition{{Type: diagv1alpha1.ConditionReady, Status: metav1.ConditionFalse,
			Reason: diagv1alpha1.ReasonSourceNotFound}},
	}
	type histogram struct {
		name, label, value string
		count, sum         float64
	}
	for name, tc := range map[string]struct {
		generation    int64
		before, after diagv1alpha1.NetworkDiagnosisStatus
		now           time.Time
		measured      observations
		counters      string
		histograms    []histogram
	}{
		"collected, diagnosed and finished in one reconcile": {
			generation: 1, before: collecting, after: succeeded, now: t0.Add(13 * time.Second),
			measured: observations{
				took:          map[string]time.Duration{metrics.PhaseDiagnose: 3 * time.Millisecond},
				snapshotBytes: map[string]int{"n1": 2048},
			},
			counters: `
# HELP netdiag_collector_failures_total Collectors that failed, by reason (CollectorFailed, Timeout, NodeNotReady, NodeGone).
# TYPE netdiag_collector_failures_total counter
netdiag_collector_failures_total{reason="Timeout"} 1
# HELP netdiag_diagnoses_finished_total Diagnoses that reached a final phase, by result (Succeeded, Failed), verdict (Reachable, Unreachable, Unknown; empty when Failed) and reason (the suspicion code that decided the verdict, or the condition reason of the failure).
# TYPE netdiag_diagnoses_finished_total counter
netdiag_diagnoses_finished_total{reason="RouteMissing",result="Succeeded",verdict="Unreachable"} 1
`,
			histograms: []histogram{
				{metrics.NamePhaseDuration, "phase", metrics.PhaseCollect, 1, 12},
				{metrics.NamePhaseDuration, "phase", metrics.PhaseDiagnose, 1, 0.003},
				{metrics.NamePhaseDuration, "phase", metrics.PhaseResolve, 0, 0},
				{metrics.NameDiagnosisDuration, "result", "Succeeded", 1, 13},
				{metrics.NameSnapshotBytes, "", "", 1, 2048},
			},
		},
		"a reconcile that moved nothing": {
			generation: 1, before: succeeded, after: succeeded, now: t0.Add(time.Minute),
			measured: observations{snapshotBytes: map[string]int{"n1": 2048}},
			histograms: []histogram{
				{metrics.NameDiagnosisDuration, "", "", 0, 0},
				{metrics.NameSnapshotBytes, "", "", 0, 0},
			},
		},
		"a rerun for a new spec that fails at once": {
			generation: 2, before: succeeded, after: failedAgain, now: t0.Add(time.Hour + time.Second),
			measured: observations{took: map[string]time.Duration{metrics.PhaseResolve: time.Millisecond}},
			counters: `
# HELP netdiag_diagnoses_finished_total Diagnoses that reached a final phase, by result (Succeeded, Failed), verdict (Reachable, Unreachable, Unknown; empty when Failed) and reason (the suspicion code that decided the verdict, or the condition reason of the failure).
# TYPE netdiag_diagnoses_finished_total counter
netdiag_diagnoses_finished_total{reason="SourceNotFound",result="Failed",verdict=""} 1
`,
			histograms: []histogram{
				{metrics.NamePhaseDuration, "phase", metrics.PhaseResolve, 1, 0.001},
				{metrics.NameDiagnosisDuration, "result", "Failed", 1, 1},
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			reg := prometheus.NewPedanticRegistry()
			m := metrics.New(metrics.Options{})
			g.Expect(m.Register(reg)).To(Succeed())
			r := &NetworkDiagnosisReconciler{Metrics: m}
			nd := &diagv1alpha1.NetworkDiagnosis{ObjectMeta: metav1.ObjectMeta{Generation: tc.generation}, Status: tc.after}
			before := nd.DeepCopy()
			before.Status = tc.before
			r.recordMetrics(&scope{nd: nd, before: before, now: tc.now, metrics: tc.measured})

			g.Expect(testutil.GatherAndCompare(reg, strings.NewReader(tc.counters),
				metrics.NameDiagnosesFinished, metrics.NameCollectorFailures)).To(Succeed())
			for _, h := range tc.histograms {
				var labels []string
				if h.label != "" {
					labels = []string{h.label, h.value}
				}
				got := gather(g, reg, h.name, labels...)
				g.Expect(got.count).To(Equal(h.count), "%s %v count", h.name, labels)
				g.Expect(got.sum).To(BeNumerically("~", h.sum, 1e-9), "%s %v sum", h.name, labels)
			}
		})
	}
}
