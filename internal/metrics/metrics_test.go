package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newRegistered(t *testing.T, o Options) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m := New(o)
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// TestNamesFollowPrometheusConventions runs promlint, the linter of the Prometheus
// project, over every metric: suffixes, base units, help texts.
func TestNamesFollowPrometheusConventions(t *testing.T) {
	m, reg := newRegistered(t, Options{
		CollectorsInFlight: func(context.Context) (map[string]int, error) { return map[string]int{"Pending": 1}, nil },
		DiagnosesWaiting:   func(context.Context) (map[string]int, error) { return map[string]int{"InFlightCapReached": 2}, nil },
	})
	m.DiagnosisFinished("Succeeded", "Reachable", "", time.Second)
	m.PhaseDone(PhaseCollect, time.Second)
	m.CollectorFailed("Timeout")
	m.SnapshotReceived(1000)
	m.EngineRan(time.Millisecond)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	n, err := testutil.GatherAndCount(reg)
	if err != nil {
		t.Fatal(err)
	}
	if n != 8 {
		t.Errorf("%d series, want one of each of the 8 metrics", n)
	}
}

func TestRegisterTwiceFails(t *testing.T) {
	m, reg := newRegistered(t, Options{})
	if err := m.Register(reg); err == nil {
		t.Error("registering the same metrics twice succeeded")
	}
}

func TestCounters(t *testing.T) {
	m, reg := newRegistered(t, Options{})
	m.DiagnosisFinished("Succeeded", "Unreachable", "RouteMissing", 3*time.Second)
	m.DiagnosisFinished("Succeeded", "Unreachable", "RouteMissing", 5*time.Second)
	m.DiagnosisFinished("Failed", "", "SourceNotFound", time.Second)
	m.CollectorFailed("Timeout")
	want := `
# HELP netdiag_collector_failures_total Collectors that failed, by reason (CollectorFailed, Timeout, NodeNotReady, NodeGone).
# TYPE netdiag_collector_failures_total counter
netdiag_collector_failures_total{reason="Timeout"} 1
# HELP netdiag_diagnoses_finished_total Diagnoses that reached a final phase, by result (Succeeded, Failed), verdict (Reachable, Unreachable, Unknown; empty when Failed) and reason (the suspicion code that decided the verdict, or the condition reason of the failure).
# TYPE netdiag_diagnoses_finished_total counter
netdiag_diagnoses_finished_total{reason="RouteMissing",result="Succeeded",verdict="Unreachable"} 2
netdiag_diagnoses_finished_total{reason="SourceNotFound",result="Failed",verdict=""} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), NameDiagnosesFinished, NameCollectorFailures); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(m.diagnosesFinished.WithLabelValues("Succeeded", "Unreachable", "RouteMissing")); got != 2 {
		t.Errorf("Unreachable for RouteMissing counted %g times, want 2", got)
	}
	if got := testutil.CollectAndCount(m.diagnosisDuration); got != 2 {
		t.Errorf("duration series %d, want 2 (Succeeded and Failed)", got)
	}
}

func TestCollectorsInFlightCountedWhenScraped(t *testing.T) {
	counts := map[string]int{"Pending": 2, "Running": 1}
	var fail error
	_, reg := newRegistered(t, Options{CollectorsInFlight: func(context.Context) (map[string]int, error) { return counts, fail }})
	const want = `
# HELP netdiag_collectors_in_flight Collector pods that have not finished, by phase (Pending, Running).
# TYPE netdiag_collectors_in_flight gauge
netdiag_collectors_in_flight{phase="Pending"} %d
netdiag_collectors_in_flight{phase="Running"} %d
`
	check := func(pending, running int) {
		t.Helper()
		exp := fmt.Sprintf(want, pending, running)
		if err := testutil.GatherAndCompare(reg, strings.NewReader(exp), NameCollectorsInFlight); err != nil {
			t.Error(err)
		}
	}
	check(2, 1)
	counts = map[string]int{"Pending": 0, "Running": 3}
	check(0, 3)

	fail = errors.New("cache not synced")
	if n, err := testutil.GatherAndCount(reg, NameCollectorsInFlight); err != nil || n != 0 {
		t.Errorf("a failed count: %d series, %v; want the gauge left out and the scrape answered", n, err)
	}
}

func TestTimeEngine(t *testing.T) {
	m, reg := newRegistered(t, Options{})
	boom := errors.New("boom")
	engine := TimeEngine(m, func(in int) (int, error) {
		time.Sleep(2 * time.Millisecond)
		if in < 0 {
			return 0, boom
		}
		return in * 2, nil
	})
	if out, err := engine(21); out != 42 || err != nil {
		t.Errorf("engine(21) = %d, %v; want 42, nil", out, err)
	}
	if _, err := engine(-1); !errors.Is(err, boom) {
		t.Errorf("engine(-1) error %v, want the engine's", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != NameEngineDuration {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		if h.GetSampleCount() != 2 || h.GetSampleSum() < 0.004 {
			t.Errorf("engine histogram count %d sum %g, want 2 runs of at least 2ms", h.GetSampleCount(), h.GetSampleSum())
		}
		return
	}
	t.Errorf("no %s series", NameEngineDuration)
}

// TestNilRecordsNothing: a reconciler without metrics runs as before.
func TestNilRecordsNothing(t *testing.T) {
	var m *Metrics
	m.DiagnosisFinished("Succeeded", "Reachable", "", time.Second)
	m.PhaseDone(PhaseResolve, time.Second)
	m.CollectorFailed("Timeout")
	m.SnapshotReceived(1)
	m.EngineRan(time.Second)
	engine := func(int) (int, error) { return 1, nil }
	if got, _ := TimeEngine(m, engine)(0); got != 1 {
		t.Errorf("untimed engine answered %d, want 1", got)
	}
}
