package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/metrics"
	"github.com/netdiag/netdiag/internal/transport"
)

// Metrics are recorded from what a reconcile changed in the status, and only once the
// status patch went through, like the events: a reconcile that started from a stale cache
// redoes work whose patch then fails, and counting it would count a diagnosis twice.

// observations are what a reconcile measured that the status does not keep.
type observations struct {
	// took is the time each phase's function took in this reconcile.
	took map[string]time.Duration
	// snapshotBytes are the compressed sizes of the node snapshots decoded, by node.
	snapshotBytes map[string]int
}

// timed records the time since start as phase's; a phase runs once per reconcile.
func (o *observations) timed(phase string, start time.Time) {
	if o.took == nil {
		o.took = map[string]time.Duration{}
	}
	o.took[phase] = time.Since(start)
}

// snapshot records the compressed size of node's snapshot from its chunks.
func (o *observations) snapshot(node string, chunks []corev1.ConfigMap) {
	n := 0
	for i := range chunks {
		for _, b := range chunks[i].BinaryData {
			n += len(b)
		}
		for _, d := range chunks[i].Data {
			n += len(d)
		}
	}
	if o.snapshotBytes == nil {
		o.snapshotBytes = map[string]int{}
	}
	o.snapshotBytes[node] = n
}

// recordMetrics records what this reconcile moved: the phases the diagnosis left, the
// collectors that finished, the end of the diagnosis.
func (r *NetworkDiagnosisReconciler) recordMetrics(s *scope) {
	m := r.Metrics
	if m == nil {
		return
	}
	before, after := &s.before.Status, &s.nd.Status
	if before.ObservedGeneration != s.nd.Generation && before.Phase != "" {
		// A rerun for a new spec: what the previous run's status says is not this run's.
		before = &diagv1alpha1.NetworkDiagnosisStatus{}
	}
	// A phase's function times itself only when it runs in its phase: the diagnosis left
	// the phase when the status is now past it.
	for phase, in := range map[string]diagv1alpha1.Phase{metrics.PhaseResolve: diagv1alpha1.PhasePending, metrics.PhaseDiagnose: diagv1alpha1.PhaseDiagnosing} {
		if took, ok := s.metrics.took[phase]; ok && after.Phase != in {
			m.PhaseDone(phase, took)
		}
	}
	if before.Phase == diagv1alpha1.PhaseCollecting && after.Phase != diagv1alpha1.PhaseCollecting {
		// Collected stays Unknown, with the time it became so, while collectors run.
		if c := meta.FindStatusCondition(before.Conditions, diagv1alpha1.ConditionCollected); c != nil && c.Status == metav1.ConditionUnknown {
			m.PhaseDone(metrics.PhaseCollect, s.now.Sub(c.LastTransitionTime.Time))
		}
	}
	if after.Phase.Finished() && !before.Phase.Finished() {
		result, verdict, reason := finishedLabels(after)
		var took time.Duration
		if after.StartTime != nil {
			took = s.now.Sub(after.StartTime.Time)
		}
		m.DiagnosisFinished(result, verdict, reason, took)
	}

	was := make(map[string]diagv1alpha1.CollectorPhase, len(before.Collectors))
	for _, c := range before.Collectors {
		was[c.Node] = c.Phase
	}
	for _, c := range after.Collectors {
		if was[c.Node] == c.Phase {
			continue
		}
		switch c.Phase {
		case diagv1alpha1.CollectorFailed:
			m.CollectorFailed(collectorFailureReason(c))
		case diagv1alpha1.CollectorCollected:
			if n, ok := s.metrics.snapshotBytes[c.Node]; ok {
				m.SnapshotReceived(n)
			}
		}
	}
}

// finishedLabels are the labels a finished diagnosis is counted with: its phase, its
// verdict and the code that decided it (the suspicion's when it Succeeded, the Ready
// condition's reason when it Failed). Both sets of codes are fixed by the API.
func finishedLabels(st *diagv1alpha1.NetworkDiagnosisStatus) (result, verdict, reason string) {
	if st.Phase == diagv1alpha1.PhaseSucceeded {
		return string(st.Phase), string(st.Verdict), st.Why
	}
	if c := meta.FindStatusCondition(st.Conditions, diagv1alpha1.ConditionReady); c != nil {
		reason = c.Reason
	}
	return string(st.Phase), "", reason
}

// collectorFailureReason is the reason code of a failed collector.
func collectorFailureReason(c diagv1alpha1.CollectorStatus) string {
	if c.Reason != "" {
		return c.Reason
	}
	return diagv1alpha1.ReasonCollectorFailed
}

// CollectorsInFlight counts the collector pods of namespace that have not finished, by
// phase, from c (the manager's cache): what the collectors-in-flight gauge shows.
func CollectorsInFlight(c client.Reader, namespace string) metrics.Count {
	return func(ctx context.Context) (map[string]int, error) {
		pods := &corev1.PodList{}
		if err := c.List(ctx, pods, client.InNamespace(namespace),
			client.MatchingLabels{transport.LabelComponent: transport.ComponentCollector}, client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("list collector Pods: %w", err)
		}
		counts := map[string]int{string(corev1.PodPending): 0, string(corev1.PodRunning): 0}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.DeletionTimestamp == nil && (p.Status.Phase == corev1.PodPending || p.Status.Phase == corev1.PodRunning) {
				counts[string(p.Status.Phase)]++
			}
		}
		return counts, nil
	}
}

// DiagnosesWaiting counts the diagnoses that wait for room under the load caps, by the cap
// that holds them, from c (the manager's cache): what the waiting gauge shows.
func DiagnosesWaiting(c client.Reader) metrics.Count {
	return func(ctx context.Context) (map[string]int, error) {
		list := &diagv1alpha1.NetworkDiagnosisList{}
		if err := c.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("list NetworkDiagnoses: %w", err)
		}
		counts := map[string]int{
			diagv1alpha1.ReasonNamespaceCapReached: 0, diagv1alpha1.ReasonInFlightCapReached: 0, diagv1alpha1.ReasonCollectorPodCapReached: 0,
		}
		for i := range list.Items {
			st := &list.Items[i].Status
			if st.Phase != diagv1alpha1.PhasePending {
				continue
			}
			if c := meta.FindStatusCondition(st.Conditions, diagv1alpha1.ConditionAdmitted); c != nil && c.Status == metav1.ConditionFalse {
				if _, isCap := counts[c.Reason]; isCap {
					counts[c.Reason]++
				}
			}
		}
		return counts, nil
	}
}
