package controllers

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/netdiag/netdiag/internal/cluster"
)

// The cache indexes a diagnosis looks objects up by. Their keys are the cluster package's,
// the ones a snapshot built from lists indexes by, so both find the same objects.
const (
	podAddressIndex      = "netdiag.dev/pod-address"
	podNodeIndex         = "netdiag.dev/pod-node"
	nodeAddressIndex     = "netdiag.dev/node-address"
	serviceAddressIndex  = "netdiag.dev/service-address"
	serviceNodePortIndex = "netdiag.dev/service-node-port"
	endpointSliceOfIndex = "netdiag.dev/endpointslice-service"
)

type objectIndex struct {
	obj   client.Object
	list  client.ObjectList
	field string
	keys  client.IndexerFunc
}

func objectIndexes() []objectIndex {
	return []objectIndex{
		{&corev1.Pod{}, &corev1.PodList{}, podAddressIndex, keysOf(cluster.PodAddresses)},
		{&corev1.Pod{}, &corev1.PodList{}, podNodeIndex, keysOf(cluster.PodNode)},
		{&corev1.Node{}, &corev1.NodeList{}, nodeAddressIndex, keysOf(cluster.NodeAddresses)},
		{&corev1.Service{}, &corev1.ServiceList{}, serviceAddressIndex, keysOf(cluster.ServiceAddresses)},
		{&corev1.Service{}, &corev1.ServiceList{}, serviceNodePortIndex, keysOf(cluster.ServiceNodePorts)},
		{&discoveryv1.EndpointSlice{}, &discoveryv1.EndpointSliceList{}, endpointSliceOfIndex, keysOf(cluster.EndpointSliceService)},
	}
}

func keysOf[T client.Object](keys func(T) []string) client.IndexerFunc {
	return func(o client.Object) []string {
		if t, ok := o.(T); ok {
			return keys(t)
		}
		return nil
	}
}

// indexObjects registers the indexes the cluster snapshot is read through.
func indexObjects(ctx context.Context, indexer client.FieldIndexer) error {
	for _, x := range objectIndexes() {
		if err := indexer.IndexField(ctx, x.obj, x.field, x.keys); err != nil {
			return fmt.Errorf("index %T by %s: %w", x.obj, x.field, err)
		}
	}
	return nil
}

// checkIndexes fails when the reader lacks an index (a reconciler set up without
// SetupWithManager): a lookup that fails later could only answer "none".
func checkIndexes(ctx context.Context, c client.Reader) error {
	for _, x := range objectIndexes() {
		if err := c.List(ctx, x.list, client.MatchingFields{x.field: "-"}, client.UnsafeDisableDeepCopy); err != nil {
			return fmt.Errorf("look up %T by %s for the cluster snapshot: %w", x.obj, x.field, err)
		}
	}
	return nil
}

// cacheObjects answers the engine's lookups from the informer cache, sharing its objects (no
// deep copy: the engine only reads them).
type cacheObjects struct {
	ctx context.Context
	c   client.Reader
}

var _ cluster.Objects = cacheObjects{}

func (o cacheObjects) get(name types.NamespacedName, obj client.Object) bool {
	err := o.c.Get(o.ctx, name, obj, client.UnsafeDisableDeepCopy)
	if err != nil && !apierrors.IsNotFound(err) {
		logf.FromContext(o.ctx).Error(err, "Cannot read the cache for the cluster snapshot", "kind", fmt.Sprintf("%T", obj), "object", name)
	}
	return err == nil
}

func (o cacheObjects) list(l client.ObjectList, opts ...client.ListOption) bool {
	err := o.c.List(o.ctx, l, append(opts, client.UnsafeDisableDeepCopy)...)
	if err != nil {
		logf.FromContext(o.ctx).Error(err, "Cannot read the cache for the cluster snapshot", "kind", fmt.Sprintf("%T", l))
	}
	return err == nil
}

func pointers[T any, P interface {
	*T
	client.Object
}](items []T) []P {
	out := make([]P, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	cluster.SortByName(out)
	return out
}

func lookup[T any, P interface {
	*T
	client.Object
}](o cacheObjects, namespace, name string) P {
	obj := P(new(T))
	if !o.get(types.NamespacedName{Namespace: namespace, Name: name}, obj) {
		return nil
	}
	return obj
}

func (o cacheObjects) Pod(namespace, name string) *corev1.Pod {
	return lookup[corev1.Pod](o, namespace, name)
}

func (o cacheObjects) Node(name string) *corev1.Node { return lookup[corev1.Node](o, "", name) }

func (o cacheObjects) Service(namespace, name string) *corev1.Service {
	return lookup[corev1.Service](o, namespace, name)
}

func (o cacheObjects) Namespace(name string) *corev1.Namespace {
	return lookup[corev1.Namespace](o, "", name)
}

func (o cacheObjects) pods(opts ...client.ListOption) []*corev1.Pod {
	l := &corev1.PodList{}
	if !o.list(l, opts...) {
		return nil
	}
	return pointers(l.Items)
}

func (o cacheObjects) PodsByIP(ip netip.Addr) []*corev1.Pod {
	return o.pods(client.MatchingFields{podAddressIndex: cluster.AddressKey(ip)})
}

// PodsSelected filters in the cache, which copies only the pods that match.
func (o cacheObjects) PodsSelected(namespace string, selector map[string]string) []*corev1.Pod {
	return o.pods(client.InNamespace(namespace), client.MatchingLabels(selector))
}

func (o cacheObjects) PodsOn(node string) []*corev1.Pod {
	return o.pods(client.MatchingFields{podNodeIndex: node})
}

func (o cacheObjects) NodesByIP(ip netip.Addr) []*corev1.Node {
	l := &corev1.NodeList{}
	if !o.list(l, client.MatchingFields{nodeAddressIndex: cluster.AddressKey(ip)}) {
		return nil
	}
	return pointers(l.Items)
}

func (o cacheObjects) services(opts ...client.ListOption) []*corev1.Service {
	l := &corev1.ServiceList{}
	if !o.list(l, opts...) {
		return nil
	}
	return pointers(l.Items)
}

func (o cacheObjects) ServicesByIP(ip netip.Addr) []*corev1.Service {
	return o.services(client.MatchingFields{serviceAddressIndex: cluster.AddressKey(ip)})
}

func (o cacheObjects) ServicesByNodePort(port int32) []*corev1.Service {
	return o.services(client.MatchingFields{serviceNodePortIndex: strconv.Itoa(int(port))})
}

func (o cacheObjects) EndpointSlicesOf(namespace, service string) []*discoveryv1.EndpointSlice {
	l := &discoveryv1.EndpointSliceList{}
	if !o.list(l, client.InNamespace(namespace), client.MatchingFields{endpointSliceOfIndex: service}) {
		return nil
	}
	return pointers(l.Items)
}

func (o cacheObjects) NetworkPoliciesIn(namespace string) []*networkingv1.NetworkPolicy {
	l := &networkingv1.NetworkPolicyList{}
	if !o.list(l, client.InNamespace(namespace)) {
		return nil
	}
	return pointers(l.Items)
}

func (o cacheObjects) HasNetworkPolicies() bool {
	l := &networkingv1.NetworkPolicyList{}
	return o.list(l, client.Limit(1)) && len(l.Items) > 0
}
