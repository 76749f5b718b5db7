package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/transport"
)

// orphanReconciler deletes collector pods and snapshot ConfigMaps whose NetworkDiagnosis is
// gone. The finalizer cleans up what exists when a diagnosis is deleted; this catches what
// arrives later: a snapshot uploaded by a collector during its grace period, or children
// left by a finalizer someone removed by hand.
type orphanReconciler struct {
	client.Client
	namespace string
	newObject func() client.Object
}

// setupOrphanCollection registers one orphan collector for pods and one for ConfigMaps.
func setupOrphanCollection(mgr ctrl.Manager, c client.Client, namespace string) error {
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetNamespace() == namespace && o.GetLabels()[transport.LabelDiagnosis] != ""
	})
	for name, newObject := range map[string]func() client.Object{
		"orphan-collector-pods":      func() client.Object { return &corev1.Pod{} },
		"orphan-snapshot-configmaps": func() client.Object { return &corev1.ConfigMap{} },
	} {
		r := &orphanReconciler{Client: c, namespace: namespace, newObject: newObject}
		err := ctrl.NewControllerManagedBy(mgr).
			Named(name).
			For(newObject(), builder.WithPredicates(ours)).
			Complete(r)
		if err != nil {
			return fmt.Errorf("set up %s: %w", name, err)
		}
	}
	return nil
}

// Reconcile deletes the object when no NetworkDiagnosis has the UID it is labelled with.
// Children are only made for a diagnosis the cache already holds, so a miss in the cache
// means the diagnosis is gone.
func (r *orphanReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := r.newObject()
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if obj.GetDeletionTimestamp() != nil {
		return ctrl.Result{}, nil
	}
	uid := obj.GetLabels()[transport.LabelDiagnosis]
	list := &diagv1alpha1.NetworkDiagnosisList{}
	if err := r.List(ctx, list, client.MatchingFields{uidIndex: uid}); err != nil {
		return ctrl.Result{}, fmt.Errorf("find the NetworkDiagnosis of %s: %w", klog.KObj(obj), err)
	}
	if len(list.Items) > 0 {
		return ctrl.Result{}, nil
	}
	if err := r.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("delete orphan %s: %w", klog.KObj(obj), err)
	}
	logf.FromContext(ctx).V(1).Info("Deleted a child of a NetworkDiagnosis that is gone", "uid", uid)
	return ctrl.Result{}, nil
}
