package metrics

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The phases of a diagnosis the phase histogram is labelled with.
const (
	PhaseResolve  = "resolve"
	PhaseCollect  = "collect"
	PhaseDiagnose = "diagnose"
)

// Metric names, for documentation and tests.
const (
	NameDiagnosesFinished  = "netdiag_diagnoses_finished_total"
	NameDiagnosisDuration  = "netdiag_diagnosis_duration_seconds"
	NamePhaseDuration      = "netdiag_diagnosis_phase_duration_seconds"
	NameCollectorFailures  = "netdiag_collector_failures_total"
	NameCollectorsInFlight = "netdiag_collectors_in_flight"
	NameDiagnosesWaiting   = "netdiag_diagnoses_waiting"
	NameSnapshotBytes      = "netdiag_snapshot_compressed_bytes"
	NameEngineDuration     = "netdiag_engine_duration_seconds"
)

// Options configure what New builds.
type Options struct {
	// CollectorsInFlight counts, when a scrape asks, the collectors at work by phase (Pending,
	// Running). The gauges are counted at scrape time rather than kept up to date by the
	// reconciler, so that a restarted controller or a diagnosis deleted mid-run never
	// leaves them wrong. No gauge when nil.
	CollectorsInFlight Count
	// DiagnosesWaiting counts, when a scrape asks, the diagnoses that wait for the load
	// caps to leave room, by the cap that holds them. No gauge when nil.
	DiagnosesWaiting Count
}

// Count counts objects by a label's value when a scrape asks.
type Count func(context.Context) (map[string]int, error)

// Metrics are the controller's collectors. A nil *Metrics records nothing, so that a
// reconciler built without one (a benchmark, a test of something else) works unchanged.
type Metrics struct {
	diagnosesFinished *prometheus.CounterVec
	diagnosisDuration *prometheus.HistogramVec
	phaseDuration     *prometheus.HistogramVec
	collectorFailures *prometheus.CounterVec
	snapshotBytes     prometheus.Histogram
	engineDuration    prometheus.Histogram
	// counted are the gauges counted at scrape time.
	counted []*countedGauge
}

// New builds the collectors; Register exposes them.
func New(o Options) *Metrics {
	m := &Metrics{
		diagnosesFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameDiagnosesFinished,
			Help: "Diagnoses that reached a final phase, by result (Succeeded, Failed), verdict (Reachable, Unreachable, Unknown; empty when Failed) and reason (the suspicion code that decided the verdict, or the condition reason of the failure).",
		}, []string{"result", "verdict", "reason"}),
		diagnosisDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: NameDiagnosisDuration,
			Help: "Time from the start of a diagnosis to its final phase, by result.",
			// From a diagnosis without nodes (well under a second) to the default timeout
			// of two minutes and beyond.
			Buckets: []float64{0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60, 120, 300},
		}, []string{"result"}),
		phaseDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: NamePhaseDuration,
			Help: "Time a diagnosis spent in each phase: resolve (finding the endpoints and the nodes), collect (the collectors, to the second) and diagnose (decoding the snapshots and running the engine).",
			// resolve and diagnose take milliseconds; collect takes seconds.
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14),
		}, []string{"phase"}),
		collectorFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameCollectorFailures,
			Help: "Collectors that failed, by reason (CollectorFailed, Timeout, NodeNotReady, NodeGone).",
		}, []string{"reason"}),
		snapshotBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: NameSnapshotBytes,
			Help: "Compressed size of the node snapshots the collectors uploaded, as stored in their ConfigMaps.",
			// 4 KiB to 64 MiB.
			Buckets: prometheus.ExponentialBuckets(4096, 4, 8),
		}),
		engineDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    NameEngineDuration,
			Help:    "Time the engine took to answer one diagnosis from its snapshots.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14),
		}),
	}
	if o.CollectorsInFlight != nil {
		m.counted = append(m.counted, &countedGauge{count: o.CollectorsInFlight, desc: prometheus.NewDesc(NameCollectorsInFlight,
			"Collector pods that have not finished, by phase (Pending, Running).", []string{"phase"}, nil)})
	}
	if o.DiagnosesWaiting != nil {
		m.counted = append(m.counted, &countedGauge{count: o.DiagnosesWaiting, desc: prometheus.NewDesc(NameDiagnosesWaiting,
			"Diagnoses waiting for room under the load caps, by the cap that holds them (NamespaceCapReached, InFlightCapReached, CollectorPodCapReached).", []string{"reason"}, nil)})
	}
	return m
}

// Register adds every collector to reg, once.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	cs := []prometheus.Collector{m.diagnosesFinished, m.diagnosisDuration, m.phaseDuration, m.collectorFailures, m.snapshotBytes, m.engineDuration}
	for _, g := range m.counted {
		cs = append(cs, g)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register netdiag metrics: %w", err)
		}
	}
	return nil
}

// DiagnosisFinished counts a diagnosis that reached its final phase after took.
func (m *Metrics) DiagnosisFinished(result, verdict, reason string, took time.Duration) {
	if m == nil {
		return
	}
	m.diagnosesFinished.WithLabelValues(result, verdict, reason).Inc()
	m.diagnosisDuration.WithLabelValues(result).Observe(took.Seconds())
}

// PhaseDone records the time a diagnosis spent in phase (PhaseResolve, ...).
func (m *Metrics) PhaseDone(phase string, took time.Duration) {
	if m == nil {
		return
	}
	m.phaseDuration.WithLabelValues(phase).Observe(took.Seconds())
}

// CollectorFailed counts a collector that failed for reason.
func (m *Metrics) CollectorFailed(reason string) {
	if m == nil {
		return
	}
	m.collectorFailures.WithLabelValues(reason).Inc()
}

// SnapshotReceived records the compressed size of a node snapshot.
func (m *Metrics) SnapshotReceived(bytes int) {
	if m == nil {
		return
	}
	m.snapshotBytes.Observe(float64(bytes))
}

// EngineRan records one run of the engine.
func (m *Metrics) EngineRan(took time.Duration) {
	if m == nil {
		return
	}
	m.engineDuration.Observe(took.Seconds())
}

// TimeEngine returns engine timed by m: every run is recorded, whether or not the status
// it computed is stored after, since the work was done.
func TimeEngine[I, O any](m *Metrics, engine func(I) (O, error)) func(I) (O, error) {
	if m == nil {
		return engine
	}
	return func(in I) (O, error) {
		start := time.Now()
		out, err := engine(in)
		m.EngineRan(time.Since(start))
		return out, err
	}
}

// countedGauge is a gauge counted when scraped.
type countedGauge struct {
	count Count
	desc  *prometheus.Desc
}

// countTimeout bounds the count a scrape waits for: the cache answers at once once synced.
const countTimeout = 5 * time.Second

func (g *countedGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *countedGauge) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), countTimeout)
	defer cancel()
	counts, err := g.count(ctx)
	if err != nil {
		// The metrics server fails a whole scrape on one invalid metric: the gauge is
		// left out instead, and its absence says it could not be counted.
		return
	}
	for _, phase := range slices.Sorted(maps.Keys(counts)) {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(counts[phase]), phase)
	}
}
