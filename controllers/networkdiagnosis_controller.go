package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/bundle"
	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/metrics"
	"github.com/netdiag/netdiag/internal/netstack/netfilter"
	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/plugins"
	"github.com/netdiag/netdiag/internal/transport"
)

// NetworkDiagnosisReconciler runs a NetworkDiagnosis from its spec to its answer.
type NetworkDiagnosisReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	client.Client
	// APIReader reads past the cache, for the rare check that must not see stale data.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	// Clock tells the time for timeouts and TTLs; tests step a fake one.
	Clock clock.PassiveClock
	// Plugins are the network plugins the controller simulates, with the cluster's defaults
	// for their options (the manager's flags); every plugin at its defaults unless set.
	Plugins *plugin.Registry
	// Engine answers the question; a diagnose.Diagnostor on Plugins unless set.
	Engine func(diagnose.Input) (*diagnose.Result, error)

	// Namespace is the controller's namespace, where collector pods run and snapshots land.
	Namespace string
	// CollectorImage is the image collector pods run (the netdiag image itself).
	CollectorImage string
	// MaxConcurrentReconciles bounds the diagnoses reconciled at once (default 4).
	MaxConcurrentReconciles int
	// SnapshotLimits bound what a node snapshot may cost to decode; a zero field takes
	// its transport.DefaultLimits value.
	SnapshotLimits transport.Limits
	// KeepSnapshots keeps what the engine read as a support bundle for the diagnoses whose
	// spec.keepSnapshots is unset.
	KeepSnapshots bool
	// ClusterDomain is the cluster's DNS domain, in which destination names are resolved
	// (dnsname.DefaultClusterDomain unless set).
	ClusterDomain string
	// MaxConcurrentDecodes bounds the snapshots decoded at once by all workers together
	// (default 2), so that the memory decoding takes is bounded whatever the workers.
	MaxConcurrentDecodes int
	// Metrics record how diagnoses go; none when nil.
	Metrics *metrics.Metrics
	// MaxServiceNodes bounds the nodes of a service's endpoints a diagnosis collects and
	// follows (service.DefaultMaxNodes when zero).
	MaxServiceNodes int

	decodes semaphore

	// Caps bound the diagnoses and collector pods at work at once; DefaultLoadCaps when nil.
	Caps *LoadCaps
	// CollectorPriorityClass is the PriorityClass of collector pods; none when empty.
	CollectorPriorityClass string
	// TolerateControlPlane lets collectors run on control-plane nodes; a diagnosis whose
	// path crosses one fails otherwise.
	TolerateControlPlane bool
	// CollectorAPIViaService sends collectors to the API server through the kubernetes
	// Service, as pods usually go, instead of straight to the addresses of its EndpointSlice.
	CollectorAPIViaService bool

	admitter *admitter
}

// The controller reads the cluster's objects the engine needs, everywhere; it writes only
// NetworkDiagnoses and, in its own namespace, collector pods, their snapshots and the
// bundles kept of them.
//
// +kubebuilder:rbac:groups=diagnosis.netdiag.dev,resources=networkdiagnoses,verbs=get;list;watch;patch;delete
// +kubebuilder:rbac:groups=diagnosis.netdiag.dev,resources=networkdiagnoses/status,verbs=get;patch
// +kubebuilder:rbac:groups=diagnosis.netdiag.dev,resources=networkdiagnoses/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=pods;services;nodes;namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=daemonsets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",namespace=netdiag-system,resources=pods,verbs=create;delete
// +kubebuilder:rbac:groups="",namespace=netdiag-system,resources=configmaps,verbs=get;list;watch;create;update;delete

// Reconcile moves one diagnosis as far along as it can go now.
func (r *NetworkDiagnosisReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, reterr error) {
	log := logf.FromContext(ctx)
	nd := &diagv1alpha1.NetworkDiagnosis{}
	if err := r.Get(ctx, req.NamespacedName, nd); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}

	// No finalizer is added: a diagnosis must go with its CRD even when no controller runs.
	// The orphan collectors delete its children once it is gone, however long after.
	if !nd.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, nd)
	}

	s := &scope{nd: nd, before: nd.DeepCopy(), now: r.Clock.Now()}
	// One status patch per reconcile, whatever the phases did. The patch carries the
	// resourceVersion it was computed from: a reconcile that started from a stale cache
	// must not overwrite what a newer one wrote.
	defer func() {
		if reterr == nil {
			nd.Status.ObservedGeneration = nd.Generation
		}
		if equality.Semantic.DeepEqual(s.before.Status, nd.Status) {
			return
		}
		if err := r.Status().Patch(ctx, nd, client.MergeFromWithOptions(s.before, client.MergeFromWithOptimisticLock{})); err != nil {
			if apierrors.IsConflict(err) && reterr == nil {
				log.V(2).Info("NetworkDiagnosis changed since it was read, reconciling again")
				result = ctrl.Result{RequeueAfter: conflictRetry}
				return
			}
			if !apierrors.IsNotFound(err) {
				reterr = errors.Join(reterr, fmt.Errorf("patch status of NetworkDiagnosis %s: %w", klog.KObj(nd), err))
			}
			return
		}
		for _, e := range s.events {
			r.Recorder.Eventf(nd, nil, e.kind, e.reason, e.reason, "%s", e.note)
		}
		r.recordMetrics(s)
		if s.before.Status.Phase != nd.Status.Phase {
			log.V(1).Info("NetworkDiagnosis changed phase", "from", s.before.Status.Phase, "to", nd.Status.Phase)
		}
	}()

	return r.doReconcile(ctx, s, []phaseFunc{
		r.reconcileGeneration,
		r.reconcileResolve,
		r.reconcileCollect,
		r.reconcileDiagnose,
		r.reconcileFinished,
	})
}

// doReconcile runs the phases in order: each acts only in the lifecycle phase it owns, so a
// diagnosis goes as far as it can in one pass. The shortest requeue wins.
func (r *NetworkDiagnosisReconciler) doReconcile(ctx context.Context, s *scope, phases []phaseFunc) (ctrl.Result, error) {
	res := ctrl.Result{}
	for _, phase := range phases {
		pr, err := phase(ctx, s)
		if err != nil {
			return ctrl.Result{}, err
		}
		if pr.RequeueAfter > 0 && (res.RequeueAfter == 0 || pr.RequeueAfter < res.RequeueAfter) {
			res.RequeueAfter = pr.RequeueAfter
		}
		if s.deleted {
			return ctrl.Result{}, nil
		}
	}
	return res, nil
}

// reconcileDelete removes the children of a diagnosis deleted while it carried the
// finalizer of an earlier version, then lets it go.
func (r *NetworkDiagnosisReconciler) reconcileDelete(ctx context.Context, nd *diagv1alpha1.NetworkDiagnosis) error {
	if !controllerutil.ContainsFinalizer(nd, Finalizer) {
		return nil
	}
	// The cache may not hold a pod created a moment ago: read past it.
	if err := r.deleteChildren(ctx, r.APIReader, nd, -1); err != nil {
		return err
	}
	before := nd.DeepCopy()
	controllerutil.RemoveFinalizer(nd, Finalizer)
	if err := r.Patch(ctx, nd, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("remove finalizer from NetworkDiagnosis %s: %w", klog.KObj(nd), err))
	}
	logf.FromContext(ctx).V(1).Info("NetworkDiagnosis cleaned up")
	return nil
}

// releaseFinalizer removes from a finished diagnosis the finalizer an earlier version put
// there, once nothing of it is left in the controller's namespace: then deleting the CRD
// or the diagnosis never waits for a controller. gone reports whether it did.
func (r *NetworkDiagnosisReconciler) releaseFinalizer(ctx context.Context, nd *diagv1alpha1.NetworkDiagnosis) (gone bool, err error) {
	// The cache may lag behind a snapshot uploaded a moment ago: read past it.
	sel := []client.ListOption{client.InNamespace(r.Namespace), client.MatchingLabels(childLabels(nd))}
	pods := &corev1.PodList{}
	if err := r.APIReader.List(ctx, pods, sel...); err != nil {
		return false, fmt.Errorf("list collector Pods of NetworkDiagnosis %s: %w", klog.KObj(nd), err)
	}
	cms := &corev1.ConfigMapList{}
	if err := r.APIReader.List(ctx, cms, sel...); err != nil {
		return false, fmt.Errorf("list snapshot ConfigMaps of NetworkDiagnosis %s: %w", klog.KObj(nd), err)
	}
	// A kept bundle stays until the diagnosis goes, the finalizer or not.
	cms.Items = slices.DeleteFunc(cms.Items, func(cm corev1.ConfigMap) bool { return cm.Labels[transport.LabelComponent] == bundle.ComponentBundle })
	if len(pods.Items)+len(cms.Items) > 0 {
		return false, nil
	}
	before := nd.DeepCopy()
	controllerutil.RemoveFinalizer(nd, Finalizer)
	if err := r.Patch(ctx, nd, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return false, client.IgnoreNotFound(fmt.Errorf("remove finalizer from NetworkDiagnosis %s: %w", klog.KObj(nd), err))
	}
	logf.FromContext(ctx).V(1).Info("Removed the finalizer of a finished NetworkDiagnosis")
	return true, nil
}

// SetupWithManager registers the reconciler, its index and its watches.
func (r *NetworkDiagnosisReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Namespace == "" {
		return errors.New("the controller's namespace is not set")
	}
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Scheme == nil {
		r.Scheme = mgr.GetScheme()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder("netdiag-controller")
	}
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.Plugins == nil {
		r.Plugins = plugins.Registry()
	}
	if r.Engine == nil {
		// One diagnostor for the controller's life: the rulesets it parses serve every
		// diagnosis after, since nodes' rules seldom change between them.
		r.Engine = (&diagnose.Diagnostor{Plugins: r.Plugins, Rulesets: netfilter.NewCache(netfilter.DefaultCacheSize), MaxServiceNodes: r.MaxServiceNodes}).Diagnose
	}
	r.Engine = metrics.TimeEngine(r.Metrics, r.Engine)
	if r.MaxConcurrentReconciles == 0 {
		r.MaxConcurrentReconciles = 4
	}
	if r.MaxConcurrentDecodes == 0 {
		r.MaxConcurrentDecodes = DefaultConcurrentDecodes
	}
	r.decodes = make(semaphore, r.MaxConcurrentDecodes)
	caps := DefaultLoadCaps()
	if r.Caps != nil {
		caps = *r.Caps
	}
	r.admitter = newAdmitter(caps)
	for name, index := range map[string]client.IndexerFunc{
		uidIndex:            func(o client.Object) []string { return []string{string(o.GetUID())} },
		loadIndex:           loadKey,
		collectingNodeIndex: collectingNodes,
	} {
		if err := mgr.GetFieldIndexer().IndexField(ctx, &diagv1alpha1.NetworkDiagnosis{}, name, index); err != nil {
			return fmt.Errorf("index NetworkDiagnoses by %s: %w", name, err)
		}
	}
	if err := indexObjects(ctx, mgr.GetFieldIndexer()); err != nil {
		return err
	}
	// Start the informers of everything the engine reads now, so that the first diagnosis
	// does not wait for a cluster-wide list.
	for _, obj := range snapshotObjects() {
		if _, err := mgr.GetCache().GetInformer(ctx, obj); err != nil {
			return fmt.Errorf("start informer for %T: %w", obj, err)
		}
	}

	if err := setupOrphanCollection(mgr, r.Client, r.Namespace); err != nil {
		return err
	}
	if err := setupBundleCleanup(mgr, r); err != nil {
		return err
	}

	inNamespace := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetNamespace() == r.Namespace && o.GetLabels()[transport.LabelDiagnosis] != ""
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("networkdiagnosis").
		For(&diagv1alpha1.NetworkDiagnosis{}, builder.WithPredicates(specOrLifecycleChanged())).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(r.diagnosisOf), builder.WithPredicates(inNamespace)).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.diagnosisOf), builder.WithPredicates(inNamespace)).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(r.diagnosesCollectingOn), builder.WithPredicates(nodeHealthChanged())).
		Watches(&diagv1alpha1.NetworkDiagnosis{}, handler.EnqueueRequestsFromMapFunc(r.waitingDiagnoses), builder.WithPredicates(freedRoom())).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Complete(r)
}

// diagnosisOf maps a collector pod or a snapshot ConfigMap to the diagnosis it works for.
func (r *NetworkDiagnosisReconciler) diagnosisOf(ctx context.Context, o client.Object) []reconcile.Request {
	uid := o.GetLabels()[transport.LabelDiagnosis]
	list := &diagv1alpha1.NetworkDiagnosisList{}
	if err := r.List(ctx, list, client.MatchingFields{uidIndex: uid}); err != nil {
		logf.FromContext(ctx).Error(err, "Cannot find the NetworkDiagnosis of a child", "child", klog.KObj(o), "uid", uid)
		return nil
	}
	return requestsFor(list.Items)
}

// requestsFor are the reconcile requests of diagnoses.
func requestsFor(diagnoses []diagv1alpha1.NetworkDiagnosis) []reconcile.Request {
	reqs := make([]reconcile.Request, 0, len(diagnoses))
	for _, nd := range diagnoses {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: nd.Namespace, Name: nd.Name}})
	}
	return reqs
}

// specOrLifecycleChanged lets through what asks for work: a new spec, a deletion, a changed
// finalizer, label or annotation (a user's nudge). Status patches, including the
// controller's own, do not wake it.
func specOrLifecycleChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld, e.ObjectNew
		return o.GetGeneration() != n.GetGeneration() ||
			!o.GetDeletionTimestamp().Equal(n.GetDeletionTimestamp()) ||
			!equality.Semantic.DeepEqual(o.GetFinalizers(), n.GetFinalizers()) ||
			!equality.Semantic.DeepEqual(o.GetLabels(), n.GetLabels()) ||
			!equality.Semantic.DeepEqual(o.GetAnnotations(), n.GetAnnotations())
	}}
}

// snapshotObjects are the kinds the cluster snapshot is built from.
func snapshotObjects() []client.Object {
	return []client.Object{
		&corev1.Pod{}, &corev1.Node{}, &corev1.Namespace{}, &corev1.Service{},
		&discoveryv1.EndpointSlice{}, &networkingv1.NetworkPolicy{}, &appsv1.DaemonSet{},
	}
}

// CacheOptions configures the manager's cache for the controller: the engine's kinds for
// the whole cluster, stripped of what the engine never reads so that 100,000 pods fit,
// ConfigMaps only where snapshots land, and DaemonSets only in systemNamespaces (the
// registry's defaults when none are given): a tenant's DaemonSet never reaches the engine,
// neither to detect the plugin nor to read its settings.
func CacheOptions(namespace string, systemNamespaces ...string) cache.Options {
	snapshots, _ := labels.NewRequirement(transport.LabelComponent, selection.Equals, []string{transport.ComponentSnapshot})
	if len(systemNamespaces) == 0 {
		systemNamespaces = plugins.Registry().DefaultSystemNamespaces()
	}
	system := make(map[string]cache.Config, len(systemNamespaces))
	for _, ns := range systemNamespaces {
		system[ns] = cache.Config{}
	}
	return cache.Options{
		DefaultTransform: stripObject,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.ConfigMap{}: {
				Namespaces: map[string]cache.Config{namespace: {}},
				Label:      labels.NewSelector().Add(*snapshots),
			},
			&appsv1.DaemonSet{}: {Namespaces: system},
		},
	}
}

// requeueSoon is how long to wait for something the controller has just asked for (a pod
// to go away) when no event will say it happened.
const requeueSoon = 2 * time.Second

// conflictRetry is how soon a reconcile whose status patch met a newer object runs again:
// status patches do not wake the controller, and the cache catches up within moments.
const conflictRetry = 250 * time.Millisecond

// cleanupDelay is how long after finishing a diagnosis its children are deleted, once the
// final status is stored.
const cleanupDelay = time.Second
