package controllers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/metrics"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/transport"
)

// scope carries what one reconcile learns, so that later phases reuse it.
type scope struct {
	nd     *diagv1alpha1.NetworkDiagnosis
	before *diagv1alpha1.NetworkDiagnosis
	now    time.Time

	// snapshot is built from the cache on first use only: most reconciles (a collector pod
	// changed phase) never need it.
	snapshot *cluster.Snapshot
	question *model.Question
	plan     *diagnose.CollectPlan
	// name is how a destination named by a DNS name resolved, and dns the flows of the way
	// to the source's nameserver; nil and empty for other destinations.
	name *diagnose.Name
	dns  []model.Question
	// nodeSnapshots holds the node snapshots decoded in this reconcile.
	nodeSnapshots map[string]*netstack.NodeSnapshot

	// events are emitted once the status patch went through.
	events []pendingEvent
	// metrics are what the phases measured, recorded with the events.
	metrics observations
	// deleted is set once the diagnosis was deleted (its TTL expired).
	deleted bool
}

type pendingEvent struct{ kind, reason, note string }

type phaseFunc func(context.Context, *scope) (ctrl.Result, error)

func (s *scope) event(kind, reason, note string) {
	s.events = append(s.events, pendingEvent{kind: kind, reason: reason, note: truncate(note, maxMessage)})
}

func (s *scope) setCondition(typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&s.nd.Status.Conditions, metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            truncate(msg, maxMessage),
		ObservedGeneration: s.nd.Generation,
		LastTransitionTime: metav1.NewTime(s.now),
	})
}

// fail ends the diagnosis as Failed: cond says which step failed and why.
func (s *scope) fail(cond, reason, msg string) {
	st := &s.nd.Status
	s.setCondition(cond, metav1.ConditionFalse, reason, msg)
	s.setCondition(diagv1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	st.Phase = diagv1alpha1.PhaseFailed
	st.Summary = truncate(msg, maxMessage)
	st.CompletionTime = ptrTime(s.now)
	s.event(corev1.EventTypeWarning, reason, msg)
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}

// resolveError is a resolution that retrying will not fix: a named object is missing or
// cannot be diagnosed. It fails the diagnosis with a condition instead of a retry loop.
type resolveError struct {
	reason string
	err    error
}

func (e *resolveError) Error() string { return e.err.Error() }

// reconcileGeneration starts a run for the current spec: on the first reconcile, and when
// the spec changed since the status was written. Children of other generations go.
func (r *NetworkDiagnosisReconciler) reconcileGeneration(ctx context.Context, s *scope) (ctrl.Result, error) {
	nd := s.nd
	if nd.Status.Phase != "" && nd.Status.ObservedGeneration == nd.Generation {
		return ctrl.Result{}, nil
	}
	rerun := nd.Status.Phase != "" && nd.Status.ObservedGeneration != 0 && nd.Status.ObservedGeneration != nd.Generation
	if err := r.deleteChildren(ctx, r.Client, nd, nd.Generation); err != nil {
		return ctrl.Result{}, err
	}
	nd.Status = diagv1alpha1.NetworkDiagnosisStatus{Phase: diagv1alpha1.PhasePending, StartTime: ptrTime(s.now)}
	s.setCondition(diagv1alpha1.ConditionReady, metav1.ConditionFalse, diagv1alpha1.ReasonInProgress, "Resolving the endpoints")
	if rerun {
		s.event(corev1.EventTypeNormal, diagv1alpha1.ReasonSpecChanged, fmt.Sprintf("The spec changed (generation %d): diagnosing again", nd.Generation))
	}
	return ctrl.Result{}, nil
}

// reconcileResolve finds the endpoints and picks the nodes to collect from.
func (r *NetworkDiagnosisReconciler) reconcileResolve(ctx context.Context, s *scope) (ctrl.Result, error) {
	st := &s.nd.Status
	if st.Phase != diagv1alpha1.PhasePending {
		return ctrl.Result{}, nil
	}
	defer s.metrics.timed(metrics.PhaseResolve, time.Now())
	if !r.pluginValid(s) {
		return ctrl.Result{}, nil
	}
	plan, q, err := r.plan(ctx, s)
	if err != nil {
		return ctrl.Result{}, r.failResolve(s, err)
	}
	st.SourceSummary = truncate(q.Source.String(), 512)
	st.DestinationSummary = truncate(destinationSummary(s, q), 512)
	s.setCondition(diagv1alpha1.ConditionEndpointsResolved, metav1.ConditionTrue, diagv1alpha1.ReasonResolved,
		fmt.Sprintf("From %s to %s", q.Source, destinationSummary(s, q)))

	nodes := plan.Nodes()
	if refused, err := r.controlPlaneRefused(ctx, nodes); err != nil || refused != "" {
		if refused != "" {
			s.fail(diagv1alpha1.ConditionAdmitted, diagv1alpha1.ReasonControlPlaneNode, fmt.Sprintf(
				"The path crosses control-plane node %s, where collectors run only when the manager runs with --%s", refused, FlagTolerateControlPlane))
		}
		return ctrl.Result{}, err
	}
	wait, err := r.admit(ctx, s, nodes)
	if err != nil {
		return ctrl.Result{}, err
	}
	if wait > 0 || st.Phase != diagv1alpha1.PhasePending {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	st.Collectors = make([]diagv1alpha1.CollectorStatus, 0, len(nodes))
	for _, node := range nodes {
		st.Collectors = append(st.Collectors, diagv1alpha1.CollectorStatus{
			Node: node, Pod: collectorPodName(s.nd, node), Phase: diagv1alpha1.CollectorPending, Message: "Collector pod not created yet",
		})
	}
	if len(nodes) == 0 {
		// Both ends are outside the cluster's nodes: there is nothing to collect, and the
		// engine answers from the objects alone.
		s.setCondition(diagv1alpha1.ConditionCollected, metav1.ConditionTrue, diagv1alpha1.ReasonCollected, "No node to collect from")
		r.setPhase(s, diagv1alpha1.PhaseDiagnosing, "Diagnosing without node state: no node lies on the path")
		return ctrl.Result{}, nil
	}
	s.setCondition(diagv1alpha1.ConditionCollected, metav1.ConditionUnknown, diagv1alpha1.ReasonCollecting,
		"Waiting for nodes "+strings.Join(nodes, ", "))
	r.setPhase(s, diagv1alpha1.PhaseCollecting, "Collecting the state of nodes "+strings.Join(nodes, ", "))
	return ctrl.Result{}, nil
}

func (r *NetworkDiagnosisReconciler) setPhase(s *scope, p diagv1alpha1.Phase, note string) {
	s.nd.Status.Phase = p
	s.setCondition(diagv1alpha1.ConditionReady, metav1.ConditionFalse, diagv1alpha1.ReasonInProgress, note)
	s.event(corev1.EventTypeNormal, string(p), note)
}

// pluginValid fails the diagnosis, before any collector runs, when it names a plugin the
// controller does not simulate or options the plugin does not accept. With auto, the options
// are checked against the detected plugin when the engine runs.
func (r *NetworkDiagnosisReconciler) pluginValid(s *scope) bool {
	spec := &s.nd.Spec
	if spec.NetworkPlugin == "" || spec.NetworkPlugin == plugin.Auto {
		return true
	}
	if _, _, err := r.Plugins.Resolve(spec.NetworkPlugin, spec.NetworkPluginConfig); err != nil {
		s.fail(diagv1alpha1.ConditionDiagnosed, engineFailure(err), upperFirst(err.Error()))
		return false
	}
	return true
}

// engineFailure is the condition reason for an engine error: the plugin's own when the
// plugin or its options are at fault, so that the user knows what to change.
func engineFailure(err error) string {
	var unknown *plugin.UnknownPluginError
	if errors.As(err, &unknown) {
		return diagv1alpha1.ReasonPluginUnknown
	}
	var bad *plugin.ConfigError
	if errors.As(err, &bad) {
		return diagv1alpha1.ReasonPluginConfigInvalid
	}
	return diagv1alpha1.ReasonEngineFailed
}

// failResolve turns a resolution failure into a Failed diagnosis; other errors retry.
func (r *NetworkDiagnosisReconciler) failResolve(s *scope, err error) error {
	var re *resolveError
	if !errors.As(err, &re) {
		return err
	}
	s.fail(diagv1alpha1.ConditionEndpointsResolved, re.reason, upperFirst(re.Error()))
	return nil
}

// reconcileCollect runs one collector per planned node, all at once, and follows them
// until each has uploaded its snapshot, failed, or run out of time.
func (r *NetworkDiagnosisReconciler) reconcileCollect(ctx context.Context, s *scope) (ctrl.Result, error) {
	nd, st := s.nd, &s.nd.Status
	if st.Phase != diagv1alpha1.PhaseCollecting {
		return ctrl.Result{}, nil
	}
	pods, err := r.collectorPods(ctx, r.Client, nd)
	if err != nil {
		return ctrl.Result{}, err
	}
	chunks, err := r.snapshotChunks(ctx, r.Client, nd, pods)
	if err != nil {
		return ctrl.Result{}, err
	}
	limit := timeout(nd.Spec).Duration
	expired, left := deadline(st.StartTime, limit, s.now)

	var missing []string
	terminating, gaveUp := false, false
	for i, c := range st.Collectors {
		if final(c) {
			continue
		}
		pod := pods[c.Node]
		state, err := r.decode(ctx, s, c.Node, chunks[c.Node])
		if err != nil {
			return ctrl.Result{}, err
		}
		if !state.Complete && state.Err == nil && pod != nil && pod.Status.Phase == corev1.PodSucceeded {
			// The pod's and the ConfigMaps' informers are not ordered: look past the
			// cache before calling a finished collector empty-handed.
			live, err := r.snapshotChunks(ctx, r.APIReader, nd, pods)
			if err != nil {
				return ctrl.Result{}, err
			}
			if state, err = r.decode(ctx, s, c.Node, live[c.Node]); err != nil {
				return ctrl.Result{}, err
			}
			logf.FromContext(ctx).V(2).Info("Read the snapshot of a finished collector past the cache",
				"node", c.Node, "chunks", len(live[c.Node].accepted), "complete", state.Complete)
		}
		next := collectorStatus(c.Node, c.Pod, pod, state)
		if !final(next) {
			if next, err = r.checkNode(ctx, next); err != nil {
				return ctrl.Result{}, err
			}
		}
		if pod == nil && !final(next) {
			missing = append(missing, c.Node)
		}
		if pod != nil && pod.DeletionTimestamp != nil {
			terminating = true
		}
		if expired && !final(next) {
			next, gaveUp = giveUp(next, limit), true
		}
		st.Collectors[i] = next
	}
	if len(missing) > 0 && !expired {
		// A pod that is missing from the cache may be one this diagnosis already finished
		// with and deleted, when the cache has not yet seen the final status: creating it
		// again would start a collector for nothing. Creating is rare; check first.
		if stale, err := r.stale(ctx, s); err != nil || stale {
			return ctrl.Result{RequeueAfter: requeueSoon}, err
		}
		if err := r.createCollectors(ctx, s, missing, left); err != nil {
			return ctrl.Result{}, r.failResolve(s, err)
		}
		if st.Phase == diagv1alpha1.PhaseFailed {
			return ctrl.Result{}, nil
		}
	}

	o := outcome(st.Collectors)
	if !o.Done {
		s.setCondition(diagv1alpha1.ConditionCollected, metav1.ConditionUnknown, diagv1alpha1.ReasonCollecting, waitingFor(st.Collectors))
		if terminating && left > requeueSoon {
			left = requeueSoon
		}
		return ctrl.Result{RequeueAfter: left}, nil
	}
	reason := failureReason(st.Collectors, gaveUp)
	switch {
	case len(o.Failed) == 0:
		s.setCondition(diagv1alpha1.ConditionCollected, metav1.ConditionTrue, diagv1alpha1.ReasonCollected,
			fmt.Sprintf("Collected the state of %d nodes", len(o.Collected)))
		r.setPhase(s, diagv1alpha1.PhaseDiagnosing, "Collected the state of nodes "+strings.Join(o.Collected, ", ")+": diagnosing")
	case len(o.Collected) > 0:
		// Some nodes reported: a partial answer says more than none, and the summary and
		// this condition say what it lacks.
		msg := failureMessage(st.Collectors)
		s.setCondition(diagv1alpha1.ConditionCollected, metav1.ConditionFalse, reason, msg)
		s.event(corev1.EventTypeWarning, reason, msg)
		r.setPhase(s, diagv1alpha1.PhaseDiagnosing, "Diagnosing without nodes "+strings.Join(o.Failed, ", "))
	default:
		s.fail(diagv1alpha1.ConditionCollected, reason, failureMessage(st.Collectors))
	}
	return ctrl.Result{}, nil
}

// waitingFor lists the collectors still running and how they stand.
func waitingFor(collectors []diagv1alpha1.CollectorStatus) string {
	var parts []string
	for _, c := range collectors {
		if !final(c) {
			parts = append(parts, fmt.Sprintf("%s (%s)", c.Node, c.Phase))
		}
	}
	return "Waiting for nodes " + strings.Join(parts, ", ")
}

// reconcileDiagnose runs the engine on the collected state and writes the answer.
func (r *NetworkDiagnosisReconciler) reconcileDiagnose(ctx context.Context, s *scope) (ctrl.Result, error) {
	nd, st := s.nd, &s.nd.Status
	if st.Phase != diagv1alpha1.PhaseDiagnosing {
		return ctrl.Result{}, nil
	}
	defer s.metrics.timed(metrics.PhaseDiagnose, time.Now())
	rec, err := r.recordReads(ctx, s)
	if err != nil {
		return ctrl.Result{}, err
	}
	q, err := r.resolve(ctx, s)
	if err != nil {
		return ctrl.Result{}, r.failResolve(s, err)
	}
	nodes, err := r.collected(ctx, s)
	if err != nil {
		return ctrl.Result{}, err
	}
	q = nameAnswered(s, q, nodes)
	// Read here, once, rather than with the snapshot: only the engine looks at them, and
	// they are live reads.
	if err := readProxyConfig(ctx, r.Client, r.APIReader, s.snapshot); err != nil {
		return ctrl.Result{}, err
	}
	in := diagnose.Input{Cluster: s.snapshot, Nodes: nodes, Question: q, NetworkPlugin: nd.Spec.NetworkPlugin, NetworkPluginConfig: nd.Spec.NetworkPluginConfig}
	res, err := r.engine(s, in)
	r.keep(ctx, s, rec, in)
	if err != nil {
		s.fail(diagv1alpha1.ConditionDiagnosed, engineFailure(err), "The engine could not diagnose: "+err.Error())
		return ctrl.Result{}, nil
	}
	applyResult(st, res, outcome(st.Collectors).Failed)
	if nd.Spec.Probe {
		st.Probe = probeResult(q, nodes[q.Source.Node])
	}
	st.CompletionTime = ptrTime(s.now)
	s.setCondition(diagv1alpha1.ConditionDiagnosed, metav1.ConditionTrue, diagv1alpha1.ReasonDiagnosed, "Network plugin "+orDefault(res.NetworkPlugin, "unknown"))
	s.setCondition(diagv1alpha1.ConditionReady, metav1.ConditionTrue, diagv1alpha1.ReasonFinished, st.Summary)
	st.Phase = diagv1alpha1.PhaseSucceeded
	s.event(corev1.EventTypeNormal, string(diagv1alpha1.PhaseSucceeded), answerNote(st))
	return ctrl.Result{}, nil
}

// reconcileFinished removes the children of a finished diagnosis, and the diagnosis itself
// once its TTL expired.
func (r *NetworkDiagnosisReconciler) reconcileFinished(ctx context.Context, s *scope) (ctrl.Result, error) {
	nd := s.nd
	if !nd.Status.Phase.Finished() {
		return ctrl.Result{}, nil
	}
	if !s.before.Status.Phase.Finished() {
		// Finished in this very reconcile: delete nothing until the final status is stored.
		// The view may be older than the stored status (the cache lags behind the
		// controller's own writes); if so the patch fails, and deleting the snapshots now
		// would leave the stored run without them.
		return ctrl.Result{RequeueAfter: cleanupDelay}, nil
	}
	if err := r.deleteChildren(ctx, r.Client, nd, -1); err != nil {
		return ctrl.Result{}, err
	}
	if controllerutil.ContainsFinalizer(nd, Finalizer) {
		gone, err := r.releaseFinalizer(ctx, nd)
		if err != nil {
			return ctrl.Result{}, err
		}
		if !gone {
			return ctrl.Result{RequeueAfter: requeueSoon}, nil
		}
	}
	ok, expired, left := ttlLeft(nd.Status, nd.Spec.TTLSecondsAfterFinished, s.now)
	switch {
	case !ok:
		return ctrl.Result{}, nil
	case !expired:
		return ctrl.Result{RequeueAfter: left}, nil
	}
	if err := r.Delete(ctx, nd, client.Preconditions{UID: &nd.UID}); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("delete NetworkDiagnosis %s after its TTL: %w", klog.KObj(nd), err)
	}
	logf.FromContext(ctx).V(1).Info("Deleted NetworkDiagnosis after its TTL", "ttlSecondsAfterFinished", *nd.Spec.TTLSecondsAfterFinished)
	s.deleted = true
	return ctrl.Result{}, nil
}

// resolve builds the question from the spec and the cluster snapshot.
func (r *NetworkDiagnosisReconciler) resolve(ctx context.Context, s *scope) (model.Question, error) {
	if s.question != nil {
		return *s.question, nil
	}
	if s.snapshot == nil {
		snap, err := clusterSnapshot(ctx, r.Client)
		if err != nil {
			return model.Question{}, err
		}
		s.snapshot = snap
	}
	srcRef, dstRef, err := endpointRefs(s.nd)
	if err != nil {
		return model.Question{}, &resolveError{reason: diagv1alpha1.ReasonInvalidSpec, err: err}
	}
	src, err := s.snapshot.Resolve(srcRef)
	if err != nil {
		return model.Question{}, &resolveError{reason: notFoundOr(err, diagv1alpha1.ReasonSourceNotFound, diagv1alpha1.ReasonSourceNotReady), err: fmt.Errorf("source: %w", err)}
	}
	var dst model.Endpoint
	if name := s.nd.Spec.Destination.Name; name != "" {
		dst, err = r.resolveName(s, src, name)
	} else {
		dst, err = s.snapshot.Resolve(dstRef)
	}
	if err != nil {
		return model.Question{}, &resolveError{reason: notFoundOr(err, diagv1alpha1.ReasonDestNotFound, diagv1alpha1.ReasonDestNotReady), err: fmt.Errorf("destination: %w", err)}
	}
	q := question(s.nd.Spec, src, dst)
	s.question = &q
	return q, nil
}

func notFoundOr(err error, notFound, other string) string {
	if errors.Is(err, cluster.ErrNotFound) {
		return notFound
	}
	return other
}

// plan resolves the question and picks the nodes and pods to collect.
func (r *NetworkDiagnosisReconciler) plan(ctx context.Context, s *scope) (diagnose.CollectPlan, model.Question, error) {
	q, err := r.resolve(ctx, s)
	if err != nil {
		return diagnose.CollectPlan{}, q, err
	}
	if s.plan == nil {
		p := diagnose.PlanBounded(s.snapshot, q, r.MaxServiceNodes)
		if s.name != nil {
			p = diagnose.PlanName(s.snapshot, q, s.dns, r.MaxServiceNodes)
		}
		s.plan = &p
	}
	return *s.plan, q, nil
}

// collectorPods returns the current generation's collector pods by node.
func (r *NetworkDiagnosisReconciler) collectorPods(ctx context.Context, c client.Reader, nd *diagv1alpha1.NetworkDiagnosis) (map[string]*corev1.Pod, error) {
	list := &corev1.PodList{}
	sel := childLabels(nd)
	sel[transport.LabelComponent] = transport.ComponentCollector
	sel[LabelGeneration] = strconv.FormatInt(nd.Generation, 10)
	if err := c.List(ctx, list, client.InNamespace(r.Namespace), client.MatchingLabels(sel)); err != nil {
		return nil, fmt.Errorf("list collector Pods of NetworkDiagnosis %s: %w", klog.KObj(nd), err)
	}
	out := make(map[string]*corev1.Pod, len(list.Items))
	for i := range list.Items {
		p := &list.Items[i]
		out[p.Spec.NodeName] = p
	}
	return out, nil
}

// deleteChildren deletes the collector pods and snapshot ConfigMaps of nd, except those of
// generation keep (-1 keeps none).
func (r *NetworkDiagnosisReconciler) deleteChildren(ctx context.Context, c client.Reader, nd *diagv1alpha1.NetworkDiagnosis, keep int64) error {
	sel := client.MatchingLabels(childLabels(nd))
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(r.Namespace), sel); err != nil {
		return fmt.Errorf("list collector Pods of NetworkDiagnosis %s: %w", klog.KObj(nd), err)
	}
	cms := &corev1.ConfigMapList{}
	if err := c.List(ctx, cms, client.InNamespace(r.Namespace), sel); err != nil {
		return fmt.Errorf("list snapshot ConfigMaps of NetworkDiagnosis %s: %w", klog.KObj(nd), err)
	}
	keepGen := strconv.FormatInt(keep, 10)
	var kept []string
	var errs []error
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Labels[LabelGeneration] == keepGen {
			kept = append(kept, p.Name+"-")
			continue
		}
		if p.DeletionTimestamp != nil {
			continue
		}
		if err := r.Delete(ctx, p); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("delete collector Pod %s: %w", klog.KObj(p), err))
		}
	}
	for i := range cms.Items {
		cm := &cms.Items[i]
		if hasAnyPrefix(cm.Name, kept) {
			continue
		}
		if err := r.Delete(ctx, cm); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("delete snapshot ConfigMap %s: %w", klog.KObj(cm), err))
		}
	}
	if n := len(pods.Items) + len(cms.Items) - len(kept); n > 0 {
		logf.FromContext(ctx).V(2).Info("Deleted children of NetworkDiagnosis", "pods", len(pods.Items), "configMaps", len(cms.Items))
	}
	return errors.Join(errs...)
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
