package bundle

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdiag/netdiag/internal/cluster"
)

// Recorder answers a diagnosis's lookups from another source and remembers every object it
// handed out, so that a bundle holds what the diagnosis read and no more.
type Recorder struct {
	objects cluster.Objects

	mu          sync.Mutex
	pods        seen[corev1.Pod]
	nodes       seen[corev1.Node]
	services    seen[corev1.Service]
	namespaces  seen[corev1.Namespace]
	slices      seen[discoveryv1.EndpointSlice]
	policies    seen[networkingv1.NetworkPolicy]
	hasPolicies bool
}

// seen are the objects of one kind a Recorder handed out, by namespace and name.
type seen[T any] map[[2]string]*T

func (s *seen[T]) add(objs ...*T) {
	if *s == nil {
		*s = map[[2]string]*T{}
	}
	for _, o := range objs {
		if o == nil {
			continue
		}
		m := any(o).(metav1.Object)
		(*s)[[2]string{m.GetNamespace(), m.GetName()}] = o
	}
}

// list returns copies of the objects in namespace/name order, as cluster.SortByName has it.
func (s seen[T]) list() []T {
	keys := slices.SortedFunc(maps.Keys(s), func(a, b [2]string) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
	})
	out := make([]T, len(keys))
	for i, k := range keys {
		out[i] = *s[k]
	}
	return out
}

// Record returns a Recorder on objects.
func Record(objects cluster.Objects) *Recorder { return &Recorder{objects: objects} }

func record[P any](r *Recorder, s *seen[P], objs ...*P) {
	r.mu.Lock()
	s.add(objs...)
	r.mu.Unlock()
}

func (r *Recorder) Pod(namespace, name string) *corev1.Pod {
	p := r.objects.Pod(namespace, name)
	record(r, &r.pods, p)
	return p
}

func (r *Recorder) Node(name string) *corev1.Node {
	n := r.objects.Node(name)
	record(r, &r.nodes, n)
	return n
}

func (r *Recorder) Service(namespace, name string) *corev1.Service {
	s := r.objects.Service(namespace, name)
	record(r, &r.services, s)
	return s
}

func (r *Recorder) Namespace(name string) *corev1.Namespace {
	n := r.objects.Namespace(name)
	record(r, &r.namespaces, n)
	return n
}

func (r *Recorder) PodsByIP(ip netip.Addr) []*corev1.Pod {
	ps := r.objects.PodsByIP(ip)
	record(r, &r.pods, ps...)
	return ps
}

func (r *Recorder) PodsSelected(namespace string, selector map[string]string) []*corev1.Pod {
	ps := r.objects.PodsSelected(namespace, selector)
	record(r, &r.pods, ps...)
	return ps
}

func (r *Recorder) PodsOn(node string) []*corev1.Pod {
	ps := r.objects.PodsOn(node)
	record(r, &r.pods, ps...)
	return ps
}

func (r *Recorder) NodesByIP(ip netip.Addr) []*corev1.Node {
	ns := r.objects.NodesByIP(ip)
	record(r, &r.nodes, ns...)
	return ns
}

func (r *Recorder) ServicesByIP(ip netip.Addr) []*corev1.Service {
	ss := r.objects.ServicesByIP(ip)
	record(r, &r.services, ss...)
	return ss
}

func (r *Recorder) ServicesByNodePort(port int32) []*corev1.Service {
	ss := r.objects.ServicesByNodePort(port)
	record(r, &r.services, ss...)
	return ss
}

func (r *Recorder) EndpointSlicesOf(namespace, service string) []*discoveryv1.EndpointSlice {
	es := r.objects.EndpointSlicesOf(namespace, service)
	record(r, &r.slices, es...)
	return es
}

func (r *Recorder) NetworkPoliciesIn(namespace string) []*networkingv1.NetworkPolicy {
	ps := r.objects.NetworkPoliciesIn(namespace)
	record(r, &r.policies, ps...)
	return ps
}

func (r *Recorder) HasNetworkPolicies() bool {
	has := r.objects.HasNetworkPolicies()
	r.mu.Lock()
	r.hasPolicies = r.hasPolicies || has
	r.mu.Unlock()
	return has
}

// placeholderPolicy stands for the cluster's policies when the diagnosis learnt that some
// exist but read none: a snapshot of lists says it has policies only by holding one, and
// this one selects no pod, in a namespace no endpoint is in.
var placeholderPolicy = networkingv1.NetworkPolicy{
	TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
	ObjectMeta: metav1.ObjectMeta{Namespace: "netdiag-bundle", Name: "cluster-has-policies"},
	Spec: networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"bundle.netdiag.dev/selects": "nothing"}},
	},
}

// Snapshot is a snapshot of lists holding what was recorded, with nodes and daemonSets,
// which the plugins scan as lists, in full.
func (r *Recorder) Snapshot(nodes []corev1.Node, daemonSets []appsv1.DaemonSet) *cluster.Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	snap := &cluster.Snapshot{
		Pods: r.pods.list(), Services: r.services.list(), Namespaces: r.namespaces.list(),
		EndpointSlices: r.slices.list(), NetworkPolicies: r.policies.list(),
		Nodes: append([]corev1.Node(nil), nodes...), DaemonSets: append([]appsv1.DaemonSet(nil), daemonSets...),
	}
	// Nodes the lists lack (none, when nodes is the full list) are the ones looked up.
	for _, n := range r.nodes.list() {
		if !hasNode(snap.Nodes, n.Name) {
			snap.Nodes = append(snap.Nodes, n)
		}
	}
	if r.hasPolicies && len(snap.NetworkPolicies) == 0 {
		snap.NetworkPolicies = []networkingv1.NetworkPolicy{placeholderPolicy}
	}
	return snap
}

func hasNode(nodes []corev1.Node, name string) bool {
	return slices.ContainsFunc(nodes, func(n corev1.Node) bool { return n.Name == name })
}

var _ cluster.Objects = (*Recorder)(nil)
