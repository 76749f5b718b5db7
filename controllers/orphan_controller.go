package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/transport"
)

// orphanReconciler deletes collector pods and snapshot ConfigMaps whose NetworkDiagnosis is
// gone. Diagnoses carry no finalizer, so that they never wait for a controller to go: when
// one is deleted, its children are found by its UID and deleted here; when it went while no
// controller ran (its CRD deleted first), the next controller finds them as its cache fills.
// This also catches what arrives late: a snapshot uploaded by a collector during its grace
// period.
type orphanReconciler struct {
	client.Client
	namespace string
	newObject func() client.Object
	newList   func() client.ObjectList
}

// setupOrphanCollection registers one orphan collector for pods and one for ConfigMaps.
func setupOrphanCollection(mgr ctrl.Manager, c client.Client, namespace string) error {
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetNamespace() == namespace && o.GetLabels()[transport.LabelDiagnosis] != ""
	})
	deleted := predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
	for name, r := range map[string]*orphanReconciler{
		"orphan-collector-pods": {Client: c, namespace: namespace,
			newObject: func() client.Object { return &corev1.Pod{} }, newList: func() client.ObjectList { return &corev1.PodList{} }},
		"orphan-snapshot-configmaps": {Client: c, namespace: namespace,
			newObject: func() client.Object { return &corev1.ConfigMap{} }, newList: func() client.ObjectList { return &corev1.ConfigMapList{} }},
	} {
		err := ctrl.NewControllerManagedBy(mgr).
			Named(name).
			For(r.newObject(), builder.WithPredicates(ours)).
			Watches(&diagv1alpha1.NetworkDiagnosis{}, handler.EnqueueRequestsFromMapFunc(r.childrenOf), builder.WithPredicates(deleted)).
			Complete(r)
		if err != nil {
			return fmt.Errorf("set up %s: %w", name, err)
		}
	}
	return nil
}

// childrenOf maps a deleted diagnosis to its children of the reconciler's kind.
func (r *orphanReconciler) childrenOf(ctx context.Context, nd client.Object) []reconcile.Request {
	list := r.newList()
	if err := r.List(ctx, list, client.InNamespace(r.namespace), client.MatchingLabels{transport.LabelDiagnosis: string(nd.GetUID())}); err != nil {
		logf.FromContext(ctx).Error(err, "Cannot list the children of a deleted NetworkDiagnosis", "networkDiagnosis", klog.KObj(nd))
		return nil
	}
	var reqs []reconcile.Request
	_ = meta.EachListItem(list, func(o runtime.Object) error {
		if obj, ok := o.(client.Object); ok {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(obj)})
		}
		return nil
	})
	return reqs
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
