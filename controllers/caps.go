package controllers

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
)

// Collector pods run privileged in the controller's namespace, outside every tenant's
// ResourceQuota: the caps are what bounds how much of the cluster diagnoses take. A
// diagnosis over a cap waits in phase Pending, its Admitted condition saying which cap and
// how many wait ahead of it, and starts when room frees, oldest first.

// LoadCaps bound what diagnoses run at once. A zero field lifts its cap.
type LoadCaps struct {
	// PerNamespace bounds the diagnoses of one namespace in flight (collecting or
	// diagnosing).
	PerNamespace int
	// InFlight bounds the diagnoses in flight in the whole cluster.
	InFlight int
	// CollectorPods bounds the collector pods of all diagnoses that have not reported yet.
	CollectorPods int
}

// DefaultLoadCaps are the manager's defaults: a namespace cannot take more than a tenth of
// the cluster's diagnoses, and a hundred collector pods are far below what a kubelet or the
// API server notices.
func DefaultLoadCaps() LoadCaps { return LoadCaps{PerNamespace: 5, InFlight: 50, CollectorPods: 100} }

// The manager's flags that set the caps; the conditions name them.
const (
	FlagMaxPerNamespace  = "max-diagnoses-per-namespace"
	FlagMaxInFlight      = "max-diagnoses"
	FlagMaxCollectorPods = "max-collector-pods"
)

const (
	// loadIndex indexes NetworkDiagnoses by how they weigh on the caps.
	loadIndex = ".status.load"
	// loadRunning: admitted and not finished (Collecting, Diagnosing).
	loadRunning = "running"
	// loadWaiting: not admitted yet (new, or Pending).
	loadWaiting = "waiting"

	// waitRetry is how often a waiting diagnosis looks again for room, should the event
	// of a diagnosis finishing be missed.
	waitRetry = 10 * time.Second
	// startedMemory is how long an admission is remembered when the cache does not show
	// the diagnosis started (its status patch failed): then it is admitted afresh.
	startedMemory = time.Minute
	// wakeBatch bounds the waiting diagnoses one finished diagnosis wakes: the oldest,
	// which are the ones that may start.
	wakeBatch = 20
)

// load is one diagnosis as the caps see it.
type load struct {
	uid       types.UID
	namespace string
	name      string
	created   time.Time
	// running is set once it was admitted.
	running bool
	// pods are the collector pods it runs (running) or needs (waiting).
	pods int
}

// compare orders diagnoses in the queue: by creation, then by name.
func (l load) compare(o load) int {
	return cmp.Or(l.created.Compare(o.created), cmp.Compare(l.namespace, o.namespace), cmp.Compare(l.name, o.name))
}

// admission is the caps' answer to one diagnosis.
type admission struct {
	// admit is set when the diagnosis may start now.
	admit bool
	// never is set when it cannot start however long it waits.
	never bool
	// reason and why say which cap holds it back.
	reason, why string
}

// message is the Admitted condition's message while the diagnosis waits.
func (a admission) message() string {
	if a.admit || a.never {
		return upperFirst(a.why)
	}
	return "Waiting to start: " + a.why
}

// admit decides whether self may start among others, first come first served: every
// diagnosis that waits and is older than self goes first, unless its own namespace's cap
// holds it back anyway.
func admit(caps LoadCaps, self load, others []load) admission {
	if caps.CollectorPods > 0 && self.pods > caps.CollectorPods {
		return admission{never: true, reason: diagv1alpha1.ReasonCollectorPodCapReached, why: fmt.Sprintf(
			"the path needs %d collector pods, more than --%s=%d allows at once", self.pods, FlagMaxCollectorPods, caps.CollectorPods)}
	}
	nsRunning := map[string]int{}
	running, pods := 0, 0
	var waiting []load
	for _, o := range others {
		switch {
		case o.running:
			nsRunning[o.namespace]++
			running++
			pods += o.pods
		case o.compare(self) < 0:
			waiting = append(waiting, o)
		}
	}
	slices.SortFunc(waiting, load.compare)
	nsAhead := map[string]int{}
	ahead, aheadPods := 0, 0
	for _, w := range waiting {
		if caps.PerNamespace == 0 || nsRunning[w.namespace]+nsAhead[w.namespace] < caps.PerNamespace {
			ahead++
			aheadPods += w.pods
		}
		nsAhead[w.namespace]++
	}
	switch {
	case caps.PerNamespace > 0 && nsRunning[self.namespace]+nsAhead[self.namespace] >= caps.PerNamespace:
		return admission{reason: diagv1alpha1.ReasonNamespaceCapReached, why: fmt.Sprintf(
			"%d diagnoses of namespace %s are in flight (--%s=%d) and %s ahead of this one",
			nsRunning[self.namespace], self.namespace, FlagMaxPerNamespace, caps.PerNamespace, waitAhead(nsAhead[self.namespace]))}
	case caps.InFlight > 0 && running+ahead >= caps.InFlight:
		return admission{reason: diagv1alpha1.ReasonInFlightCapReached, why: fmt.Sprintf(
			"%d diagnoses are in flight in the cluster (--%s=%d) and %s ahead of this one",
			running, FlagMaxInFlight, caps.InFlight, waitAhead(ahead))}
	case caps.CollectorPods > 0 && pods+aheadPods+self.pods > caps.CollectorPods:
		return admission{reason: diagv1alpha1.ReasonCollectorPodCapReached, why: fmt.Sprintf(
			"%d collector pods are at work and this diagnosis needs %d more (--%s=%d), and %s ahead of this one",
			pods, self.pods, FlagMaxCollectorPods, caps.CollectorPods, waitAhead(ahead))}
	}
	return admission{admit: true, reason: diagv1alpha1.ReasonAdmitted, why: "started within the load caps"}
}

func waitAhead(n int) string {
	if n == 1 {
		return "1 waits"
	}
	return fmt.Sprintf("%d wait", n)
}

// loadOf is a diagnosis as the caps see it, from its status.
func loadOf(nd *diagv1alpha1.NetworkDiagnosis) load {
	l := load{uid: nd.UID, namespace: nd.Namespace, name: nd.Name, created: nd.CreationTimestamp.Time}
	switch nd.Status.Phase {
	case diagv1alpha1.PhaseCollecting:
		l.running = true
		for _, c := range nd.Status.Collectors {
			if !final(c) {
				l.pods++
			}
		}
	case diagv1alpha1.PhaseDiagnosing:
		l.running = true
	default:
		l.pods = len(nd.Status.Collectors)
	}
	return l
}

// loadKey is the index function of loadIndex.
func loadKey(o client.Object) []string {
	nd, ok := o.(*diagv1alpha1.NetworkDiagnosis)
	if !ok {
		return nil
	}
	switch nd.Status.Phase {
	case "", diagv1alpha1.PhasePending:
		return []string{loadWaiting}
	case diagv1alpha1.PhaseCollecting, diagv1alpha1.PhaseDiagnosing:
		return []string{loadRunning}
	}
	return nil
}

// admitter applies the caps. It remembers the diagnoses it let start until the cache shows
// them started: reconciles run in parallel and the cache lags behind the controller's own
// status patches, so counting from the cache alone would let a burst through.
type admitter struct {
	caps LoadCaps

	mu      sync.Mutex
	started map[types.UID]startedLoad
}

type startedLoad struct {
	pods int
	at   time.Time
}

func newAdmitter(caps LoadCaps) *admitter {
	return &admitter{caps: caps, started: map[types.UID]startedLoad{}}
}

// admit decides whether nd, needing pods collector pods, may start now, counting the
// diagnoses the cache c holds.
func (a *admitter) admit(ctx context.Context, c client.Reader, nd *diagv1alpha1.NetworkDiagnosis, pods int, now time.Time) (admission, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var others []load
	seen := map[types.UID]bool{}
	for _, key := range []string{loadRunning, loadWaiting} {
		list := &diagv1alpha1.NetworkDiagnosisList{}
		if err := c.List(ctx, list, client.MatchingFields{loadIndex: key}, client.UnsafeDisableDeepCopy); err != nil {
			return admission{}, fmt.Errorf("list NetworkDiagnoses in flight: %w", err)
		}
		for i := range list.Items {
			o := loadOf(&list.Items[i])
			if o.uid == nd.UID {
				continue
			}
			seen[o.uid] = true
			if st, ok := a.started[o.uid]; ok {
				if o.running || now.Sub(st.at) > startedMemory {
					delete(a.started, o.uid)
				} else {
					o.running, o.pods = true, st.pods
				}
			}
			others = append(others, o)
		}
	}
	for uid := range a.started {
		if !seen[uid] {
			// Finished or deleted: the cache holds it, since a reconcile read it there.
			delete(a.started, uid)
		}
	}
	self := loadOf(nd)
	self.running, self.pods = false, pods
	d := admit(a.caps, self, others)
	if d.admit {
		a.started[nd.UID] = startedLoad{pods: pods, at: now}
	}
	return d, nil
}

// waitingDiagnoses maps a diagnosis that freed room (it finished, was deleted, or has
// fewer collectors at work) to the oldest diagnoses waiting for it, which may start now.
func (r *NetworkDiagnosisReconciler) waitingDiagnoses(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &diagv1alpha1.NetworkDiagnosisList{}
	if err := r.List(ctx, list, client.MatchingFields{loadIndex: loadWaiting}); err != nil {
		logf.FromContext(ctx).Error(err, "Cannot find the NetworkDiagnoses waiting to start")
		return nil
	}
	items := list.Items
	slices.SortFunc(items, func(a, b diagv1alpha1.NetworkDiagnosis) int { return loadOf(&a).compare(loadOf(&b)) })
	return requestsFor(items[:min(len(items), wakeBatch)])
}

// freedRoom lets through a diagnosis that weighs less on the caps than before: one whose
// phase left Collecting or Diagnosing, one with fewer collectors at work, and any deletion.
func freedRoom() predicate.Predicate {
	weight := func(o client.Object) (running bool, pods int) {
		nd, ok := o.(*diagv1alpha1.NetworkDiagnosis)
		if !ok {
			return false, 0
		}
		l := loadOf(nd)
		return l.running, l.pods
	}
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
		UpdateFunc: func(e event.UpdateEvent) bool {
			wasRunning, hadPods := weight(e.ObjectOld)
			running, pods := weight(e.ObjectNew)
			return wasRunning && (!running || pods < hadPods)
		},
	}
}

// admit lets the diagnosis start on nodes when the caps leave room. Otherwise it waits,
// phase Pending, with its Admitted condition saying why, and admit returns when to look
// again; or it fails, when it can never start or its timeout ran out while it waited.
func (r *NetworkDiagnosisReconciler) admit(ctx context.Context, s *scope, nodes []string) (time.Duration, error) {
	st := &s.nd.Status
	d, err := r.admitter.admit(ctx, r.Client, s.nd, len(nodes), s.now)
	if err != nil {
		return 0, err
	}
	limit := timeout(s.nd.Spec).Duration
	expired, left := deadline(st.StartTime, limit, s.now)
	switch {
	case d.admit:
		s.setCondition(diagv1alpha1.ConditionAdmitted, metav1.ConditionTrue, d.reason, d.message())
		return 0, nil
	case d.never:
		s.fail(diagv1alpha1.ConditionAdmitted, d.reason, d.message())
		return 0, nil
	case expired:
		s.fail(diagv1alpha1.ConditionAdmitted, diagv1alpha1.ReasonTimeout, fmt.Sprintf("Did not start within %s: %s", limit, d.why))
		return 0, nil
	}
	if prev := meta.FindStatusCondition(st.Conditions, diagv1alpha1.ConditionAdmitted); prev == nil || prev.Reason != d.reason {
		s.event(corev1.EventTypeNormal, d.reason, d.message())
	}
	s.setCondition(diagv1alpha1.ConditionAdmitted, metav1.ConditionFalse, d.reason, d.message())
	s.setCondition(diagv1alpha1.ConditionReady, metav1.ConditionFalse, diagv1alpha1.ReasonInProgress, d.message())
	// The collectors it will run are listed already: the caps count them for the
	// diagnoses queued behind it.
	st.Collectors = make([]diagv1alpha1.CollectorStatus, 0, len(nodes))
	for _, node := range nodes {
		st.Collectors = append(st.Collectors, diagv1alpha1.CollectorStatus{
			Node: node, Pod: collectorPodName(s.nd, node), Phase: diagv1alpha1.CollectorPending, Message: "Waiting to start (see the Admitted condition)",
		})
	}
	return min(waitRetry, left), nil
}
