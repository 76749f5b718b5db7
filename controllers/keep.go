package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/bundle"
	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/transport"
)

// A diagnosis that keeps its snapshots (spec.keepSnapshots, else the manager's default)
// stores what the engine read as a support bundle: a tarball of the node snapshots it used,
// the cluster objects it looked up and the question, split into ConfigMaps the controller
// writes in its own namespace. The collectors' own ConfigMaps are not kept: they belong to
// their pods, and a cluster's garbage collector deletes them with the pods, which the
// finished-diagnosis cleanup deletes as before. The bundle has no owner, so nothing but the
// controller removes it: the manager's cache holds snapshot ConfigMaps only, so that cleanup
// (which lists from the cache) passes the bundle by, and the deletion of the diagnosis (by
// hand or at its TTL) takes it through the bundleCleaner.

// keeps reports whether nd keeps what its engine read.
func (r *NetworkDiagnosisReconciler) keeps(nd *diagv1alpha1.NetworkDiagnosis) bool {
	if nd.Spec.KeepSnapshots != nil {
		return *nd.Spec.KeepSnapshots
	}
	return r.KeepSnapshots
}

// recordReads makes the scope's cluster snapshot remember what the resolution and the
// engine read, when nd keeps it; nil when not.
func (r *NetworkDiagnosisReconciler) recordReads(ctx context.Context, s *scope) (*bundle.Recorder, error) {
	if !r.keeps(s.nd) {
		return nil, nil
	}
	if s.snapshot == nil {
		snap, err := clusterSnapshot(ctx, r.Client)
		if err != nil {
			return nil, err
		}
		s.snapshot = snap
	}
	rec := bundle.Record(s.snapshot)
	admin, calico := s.snapshot.Admin, s.snapshot.CalicoObjects()
	s.snapshot = cluster.NewSnapshot(rec, s.snapshot.Nodes, s.snapshot.DaemonSets)
	// A kept diagnosis must decide as any other: the policies it reads beyond the
	// recorder's lookups go on with it.
	s.snapshot.Admin = admin
	if calico != nil {
		s.snapshot.WithCalico(calico)
	}
	// Resolve again through the recorder: the bundle must hold the endpoints too.
	s.question, s.plan, s.name, s.dns = nil, nil, nil, nil
	return rec, nil
}

// keep stores the bundle of what rec recorded and in held, and says in a condition whether
// it could: a bundle that cannot be stored costs the user the bundle, not the answer.
func (r *NetworkDiagnosisReconciler) keep(ctx context.Context, s *scope, rec *bundle.Recorder, in diagnose.Input) {
	if rec == nil {
		return
	}
	nd := s.nd
	src, dst, err := endpointRefs(nd)
	if err == nil && s.name != nil {
		dst, err = nameBundleRef(s.name, in.Question)
	}
	if err == nil {
		b := &bundle.Bundle{
			Question: bundle.NewQuestion(nd.Namespace+"/"+nd.Name, src, dst, in.Question.Protocol, in.Question.Port, nd.Spec.NetworkPlugin, nd.Spec.NetworkPluginConfig),
			Cluster:  rec.Snapshot(s.snapshot.Nodes, s.snapshot.DaemonSets),
			Nodes:    in.Nodes,
		}
		b.Cluster.Admin = s.snapshot.Admin
		b.Cluster.ConfigMaps = s.snapshot.ConfigMaps
		var tarball []byte
		if tarball, err = b.Tarball(); err == nil {
			err = r.storeBundle(ctx, nd, tarball)
		}
	}
	if err != nil {
		msg := "Could not keep the snapshots: " + err.Error()
		s.setCondition(diagv1alpha1.ConditionSnapshotsKept, metav1.ConditionFalse, diagv1alpha1.ReasonKeepFailed, msg)
		s.event(corev1.EventTypeWarning, diagv1alpha1.ReasonKeepFailed, msg)
		return
	}
	s.setCondition(diagv1alpha1.ConditionSnapshotsKept, metav1.ConditionTrue, diagv1alpha1.ReasonSnapshotsKept,
		fmt.Sprintf("Kept %d node snapshots and the objects the engine read in ConfigMaps %s/%s-*: netdiag bundle %s -n %s writes them out",
			len(in.Nodes), r.Namespace, bundle.Prefix(nd.UID), nd.Name, nd.Namespace))
}

// storeBundle writes the bundle's ConfigMaps, replacing those of an earlier run, and
// deletes the chunks of an earlier, larger bundle.
func (r *NetworkDiagnosisReconciler) storeBundle(ctx context.Context, nd *diagv1alpha1.NetworkDiagnosis, tarball []byte) error {
	cms := bundle.ConfigMaps(tarball, r.Namespace, nd.UID)
	names := map[string]bool{}
	for _, cm := range cms {
		names[cm.Name] = true
		cm.Labels[labelManagedBy] = appName
		err := r.Create(ctx, cm)
		if apierrors.IsAlreadyExists(err) {
			// No resourceVersion: this run's bundle replaces whatever is there.
			err = r.Update(ctx, cm)
		}
		if err != nil {
			return fmt.Errorf("write bundle ConfigMap %s: %w", klog.KObj(cm), err)
		}
	}
	// The cache holds no bundle ConfigMaps.
	list := &corev1.ConfigMapList{}
	sel := childLabels(nd)
	sel[transport.LabelComponent] = bundle.ComponentBundle
	if err := r.APIReader.List(ctx, list, client.InNamespace(r.Namespace), client.MatchingLabels(sel)); err != nil {
		return fmt.Errorf("list bundle ConfigMaps of NetworkDiagnosis %s: %w", klog.KObj(nd), err)
	}
	var errs []error
	for i := range list.Items {
		if cm := &list.Items[i]; !names[cm.Name] {
			if err := r.Delete(ctx, cm); client.IgnoreNotFound(err) != nil {
				errs = append(errs, fmt.Errorf("delete stale bundle ConfigMap %s: %w", klog.KObj(cm), err))
			}
		}
	}
	logf.FromContext(ctx).V(1).Info("Kept the snapshots of NetworkDiagnosis", "configMaps", len(cms), "bytes", len(tarball))
	return errors.Join(errs...)
}

// bundleCleaner deletes the bundles of diagnoses that are gone. The manager's cache holds no
// bundle (each may weigh megabytes), so the orphan collectors, which work from the cache, do
// not see them: this one hears of every deleted diagnosis, and sweeps once when the
// controller starts for the diagnoses deleted while none ran.
type bundleCleaner struct {
	// Client reads diagnoses from the cache and deletes.
	client.Client
	apiReader client.Reader
	namespace string
}

// setupBundleCleanup registers the bundleCleaner of r's namespace.
func setupBundleCleanup(mgr ctrl.Manager, r *NetworkDiagnosisReconciler) error {
	c := &bundleCleaner{Client: r.Client, apiReader: r.APIReader, namespace: r.Namespace}
	deleted := predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
	// A request names the diagnosis's UID: that is all the bundle is found by.
	byUID := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: c.namespace, Name: string(o.GetUID())}}}
	})
	if err := ctrl.NewControllerManagedBy(mgr).
		Named("orphan-bundles").
		Watches(&diagv1alpha1.NetworkDiagnosis{}, byUID, builder.WithPredicates(deleted)).
		Complete(c); err != nil {
		return fmt.Errorf("set up orphan-bundles: %w", err)
	}
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return nil
		}
		c.sweep(ctx)
		return nil
	}))
}

// Reconcile deletes the bundle of the diagnosis of UID req.Name when the diagnosis is gone.
func (c *bundleCleaner) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return ctrl.Result{}, c.deleteIfGone(ctx, types.UID(req.Name))
}

func (c *bundleCleaner) deleteIfGone(ctx context.Context, uid types.UID) error {
	list := &diagv1alpha1.NetworkDiagnosisList{}
	if err := c.List(ctx, list, client.MatchingFields{uidIndex: string(uid)}); err != nil {
		return fmt.Errorf("find the NetworkDiagnosis of uid %s: %w", uid, err)
	}
	if len(list.Items) > 0 {
		return nil
	}
	cms := &corev1.ConfigMapList{}
	sel := client.MatchingLabels{transport.LabelDiagnosis: string(uid), transport.LabelComponent: bundle.ComponentBundle}
	if err := c.apiReader.List(ctx, cms, client.InNamespace(c.namespace), sel); err != nil {
		return fmt.Errorf("list the bundle ConfigMaps of uid %s: %w", uid, err)
	}
	var errs []error
	for i := range cms.Items {
		if err := c.Delete(ctx, &cms.Items[i]); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("delete bundle ConfigMap %s: %w", klog.KObj(&cms.Items[i]), err))
		}
	}
	if len(cms.Items) > 0 {
		logf.FromContext(ctx).V(1).Info("Deleted the bundle of a NetworkDiagnosis that is gone", "uid", uid, "configMaps", len(cms.Items))
	}
	return errors.Join(errs...)
}

// sweep deletes every bundle whose diagnosis is gone.
func (c *bundleCleaner) sweep(ctx context.Context) {
	log := logf.FromContext(ctx)
	cms := &corev1.ConfigMapList{}
	sel := client.MatchingLabels{transport.LabelComponent: bundle.ComponentBundle}
	if err := c.apiReader.List(ctx, cms, client.InNamespace(c.namespace), sel); err != nil {
		log.Error(err, "Cannot list bundle ConfigMaps to delete those of diagnoses that are gone")
		return
	}
	seen := map[types.UID]bool{}
	for _, cm := range cms.Items {
		uid := types.UID(cm.Labels[transport.LabelDiagnosis])
		if uid == "" || seen[uid] {
			continue
		}
		seen[uid] = true
		if err := c.deleteIfGone(ctx, uid); err != nil {
			log.Error(err, "Cannot delete the bundle of a NetworkDiagnosis that is gone", "uid", uid)
		}
	}
}
