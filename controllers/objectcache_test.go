package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/netdiag/netdiag/internal/cluster"
)

// listSnapshot is the cluster snapshot as the controller built it before it looked objects
// up by index: every object of the cache in lists. Tests compare the indexed snapshot with
// it, and the benchmarks measure what it cost.
func listSnapshot(ctx context.Context, c client.Reader) (*cluster.Snapshot, error) {
	noCopy := client.UnsafeDisableDeepCopy
	var (
		pods     corev1.PodList
		nodes    corev1.NodeList
		nss      corev1.NamespaceList
		svcs     corev1.ServiceList
		slices   discoveryv1.EndpointSliceList
		policies networkingv1.NetworkPolicyList
		dss      appsv1.DaemonSetList
	)
	for _, l := range []client.ObjectList{&pods, &nodes, &nss, &svcs, &slices, &policies, &dss} {
		if err := c.List(ctx, l, noCopy); err != nil {
			return nil, fmt.Errorf("list %T for the cluster snapshot: %w", l, err)
		}
	}
	return &cluster.Snapshot{
		Pods:            pods.Items,
		Nodes:           nodes.Items,
		Namespaces:      nss.Items,
		Services:        svcs.Items,
		EndpointSlices:  slices.Items,
		NetworkPolicies: policies.Items,
		DaemonSets:      dss.Items,
	}, nil
}

// listsOf returns, by kind, what lists the objects of a snapshot, copied: the informers own
// what they are given (the cache's transform strips it), as they own a decoded response.
func listsOf(snap func() *cluster.Snapshot) map[string]func() runtime.Object {
	return map[string]func() runtime.Object{
		"Pod":       func() runtime.Object { return (&corev1.PodList{Items: snap().Pods}).DeepCopyObject() },
		"Node":      func() runtime.Object { return (&corev1.NodeList{Items: snap().Nodes}).DeepCopyObject() },
		"Namespace": func() runtime.Object { return (&corev1.NamespaceList{Items: snap().Namespaces}).DeepCopyObject() },
		"Service":   func() runtime.Object { return (&corev1.ServiceList{Items: snap().Services}).DeepCopyObject() },
		"EndpointSlice": func() runtime.Object {
			return (&discoveryv1.EndpointSliceList{Items: snap().EndpointSlices}).DeepCopyObject()
		},
		"NetworkPolicy": func() runtime.Object {
			return (&networkingv1.NetworkPolicyList{Items: snap().NetworkPolicies}).DeepCopyObject()
		},
		"DaemonSet": func() runtime.Object { return (&appsv1.DaemonSetList{Items: snap().DaemonSets}).DeepCopyObject() },
	}
}

// listWatch serves one list and a watch on which nothing happens: the informers of a real
// controller-runtime cache are fed without an API server.
type listWatch struct{ list func() runtime.Object }

func (l listWatch) List(metav1.ListOptions) (runtime.Object, error) {
	obj := l.list()
	if err := meta.NewAccessor().SetResourceVersion(obj, "1"); err != nil {
		return nil, err
	}
	return obj, nil
}

func (l listWatch) Watch(metav1.ListOptions) (watch.Interface, error) { return watch.NewFake(), nil }

// IsWatchListSemanticsUnSupported makes the reflector list, as it does against an API
// server that does not stream lists.
func (l listWatch) IsWatchListSemanticsUnSupported() bool { return true }

// objectCache starts the controller's cache (its transform, and its indexes unless
// unindexed) over the objects that snap returns, and waits until it has them all.
func objectCache(tb testing.TB, snap func() *cluster.Snapshot, unindexed ...bool) cache.Cache {
	tb.Helper()
	s := newScheme()
	mapper := meta.NewDefaultRESTMapper(nil)
	// ConfigMaps too: the options name them, though nothing here lists them.
	for _, o := range append(snapshotObjects(), &corev1.ConfigMap{}) {
		gvks, _, err := s.ObjectKinds(o)
		if err != nil {
			tb.Fatal(err)
		}
		scope := meta.RESTScopeNamespace
		if _, ok := o.(*corev1.Node); ok {
			scope = meta.RESTScopeRoot
		}
		if _, ok := o.(*corev1.Namespace); ok {
			scope = meta.RESTScopeRoot
		}
		mapper.Add(gvks[0], scope)
		// A kind cached in some namespaces only (DaemonSets, in the system namespaces) is
		// listed through a cache that asks the mapper for the list's kind.
		mapper.Add(gvks[0].GroupVersion().WithKind(gvks[0].Kind+"List"), scope)
	}
	lists := listsOf(snap)
	opts := CacheOptions(controllerNamespace)
	opts.Scheme, opts.Mapper = s, mapper
	opts.NewInformer = func(_ toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, idx toolscache.Indexers) toolscache.SharedIndexInformer {
		gvks, _, _ := s.ObjectKinds(obj)
		return toolscache.NewSharedIndexInformer(listWatch{list: lists[gvks[0].Kind]}, obj, resync, idx)
	}
	// No request reaches this address: every informer lists from listWatch.
	c, err := cache.New(&rest.Config{Host: "http://127.0.0.1:1"}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	if len(unindexed) == 0 || !unindexed[0] {
		if err := indexObjects(ctx, c); err != nil {
			tb.Fatal(err)
		}
	}
	for _, o := range snapshotObjects() {
		if _, err := c.GetInformer(ctx, o); err != nil {
			tb.Fatal(err)
		}
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		tb.Fatal("the cache did not sync")
	}
	return c
}
