package k3stest

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/fixture/flowtest"
	"github.com/netdiag/netdiag/internal/fixture/ruleset"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
	"github.com/netdiag/netdiag/internal/plugin/k3s"
)

// Backends the builder lays out.
const (
	VXLAN  = flanneltest.VXLAN
	HostGW = flanneltest.HostGW
)

// New starts a k3s cluster of n nodes with embedded flannel's backend: node i holds the
// subnet 10.244.i.0/24, its pods .10, .11, ... on cni0.
func New(backend string, n int) *fixture.Cluster { return fixture.New(Layout{Backend: backend}, n) }

// TwoNodes is the shared flow workload of flowtest in k3s's layout.
func TwoNodes(backend string) *fixture.Cluster { return flowtest.TwoNodes(New(backend, 2)) }

// Layout is k3s's part of a cluster.
type Layout struct {
	Backend string
}

var _ fixture.PolicyLayout = Layout{}

func (l Layout) flannel() flanneltest.Layout { return flanneltest.Layout{Backend: l.Backend} }

func (l Layout) Node(i int, nd *fixture.Node) { l.flannel().Node(i, nd) }

// DaemonSets: k3s runs flannel and kube-router inside its own binary.
func (Layout) DaemonSets(*fixture.Cluster) ([]appsv1.DaemonSet, []string) { return nil, nil }

// NodeObject is flannel's annotations with k3s's own labels and annotations.
func (l Layout) NodeObject(c *fixture.Cluster, nd *fixture.Node, obj *corev1.Node) {
	l.flannel().NodeObject(c, nd, obj)
	if obj.Labels == nil {
		obj.Labels = map[string]string{}
	}
	obj.Labels[k3s.LabelInstanceType] = k3s.InstanceType
	obj.Labels["beta.kubernetes.io/instance-type"] = k3s.InstanceType
	args, _ := json.Marshal([]string{"agent"})
	obj.Annotations[k3s.AnnotationPrefix+"node-args"] = string(args)
	obj.Annotations[k3s.AnnotationPrefix+"hostname"] = nd.Name
	obj.Annotations[k3s.AnnotationPrefix+"internal-ip"] = nd.IP.String()
	obj.Spec.ProviderID = "k3s://" + nd.Name
}

func (l Layout) Host(c *fixture.Cluster, nd *fixture.Node) fixture.HostParts {
	return l.flannel().Host(c, nd)
}

func (l Layout) Peer(c *fixture.Cluster, nd, peer *fixture.Node, h *netstack.Netstack) {
	l.flannel().Peer(c, nd, peer, h)
}

func (l Layout) Pod(c *fixture.Cluster, p *fixture.Pod, h *netstack.Netstack) fixture.PodParts {
	return l.flannel().Pod(c, p, h)
}

// Rules writes kube-router's chains, whose jumps it keeps first in the built-in chains,
// then kube-proxy's and flanneld's.
func (l Layout) Rules(c *fixture.Cluster, nd *fixture.Node, t *ruleset.Tables, kubeProxy func()) {
	var pods []*fixture.Pod
	if nd != nil {
		pods = nd.Pods
	}
	AddRules(t, pods)
	l.flannel().Rules(c, nd, t, kubeProxy)
}

// IPSets: kube-router keeps a policy's peers in ipsets, written with the policy.
func (Layout) IPSets(*fixture.Cluster) string { return "" }

// syncVersion stands for the sync version kube-router hashes into its chain names.
const syncVersion = "1kb3i7lq0"

// PodChain is the KUBE-POD-FW chain of a pod, as kube-router names it.
func PodChain(namespace, name string) string {
	return k3s.PodChainPrefix + hash(namespace+name+syncVersion)
}

// PolicyChain is the KUBE-NWPLCY chain of a policy, as kube-router names it.
func PolicyChain(namespace, name string) string {
	return k3s.PolicyChainPrefix + hash(namespace+name+syncVersion+"IPv4")
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base32.StdEncoding.EncodeToString(sum[:])[:16]
}
