package canaltest

import (
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/fixture/flowtest"
	"github.com/netdiag/netdiag/internal/fixture/ruleset"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin/calico"
	"github.com/netdiag/netdiag/internal/plugin/calico/calicotest"
	"github.com/netdiag/netdiag/internal/plugin/canal"
	"github.com/netdiag/netdiag/internal/plugin/flannel"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
)

// Backends the builder lays out.
const (
	VXLAN  = flanneltest.VXLAN
	HostGW = flanneltest.HostGW
)

// The images of the canal manifest the layout's DaemonSet runs.
const (
	CalicoImage  = "docker.io/calico/node:v3.30.3"
	FlannelImage = "ghcr.io/flannel-io/flannel:v0.27.4"
)

// New starts a canal cluster of n nodes with flannel's backend: node i holds the pod CIDR
// 10.244.i.0/24, its pods .10, .11, ... on cali veths.
func New(backend string, n int) *fixture.Cluster { return fixture.New(Layout{Backend: backend}, n) }

// TwoNodes is the shared flow workload of flowtest in canal's layout.
func TwoNodes(backend string) *fixture.Cluster { return flowtest.TwoNodes(New(backend, 2)) }

// VethName is the host end of a pod's veth, as calico's CNI plugin names it.
func VethName(namespace, name string) string { return calicotest.VethName(namespace, name) }

// Layout is canal's part of a cluster.
type Layout struct {
	Backend string
}

var _ fixture.PolicyLayout = Layout{}

func (l Layout) flannel() flanneltest.Layout { return flanneltest.Layout{Backend: l.Backend} }

// calicoPods is calico's layout for what canal's pods are: its mode only sets the pods'
// MTU, which must leave room for flannel's vxlan.
func (l Layout) calicoPods() calicotest.Layout {
	if l.Backend == VXLAN {
		return calicotest.Layout{Mode: calicotest.VXLAN}
	}
	return calicotest.Layout{Mode: calicotest.Routed}
}

// calicoPolicy is calico's layout for felix's chains: policy only, no tunnel of its own.
func (Layout) calicoPolicy() calicotest.Layout { return calicotest.Layout{Mode: calicotest.Routed} }

// Node is flannel's: a /24 pod CIDR and the VTEP's MAC.
func (l Layout) Node(i int, nd *fixture.Node) { l.flannel().Node(i, nd) }

// DaemonSets is the canal DaemonSet in kube-system with its two agents.
func (l Layout) DaemonSets(*fixture.Cluster) ([]appsv1.DaemonSet, []string) {
	return []appsv1.DaemonSet{DaemonSet(canal.DaemonSet)}, nil
}

// DaemonSet is canal's DaemonSet under name, as the manifest writes its containers.
func DaemonSet(name string) appsv1.DaemonSet {
	ds := fixture.DaemonSet("kube-system", name, CalicoImage)
	ds.Labels = map[string]string{"k8s-app": name}
	ds.Spec.Template.Spec.Containers = []corev1.Container{
		{Name: canal.CalicoContainer, Image: CalicoImage, Env: []corev1.EnvVar{
			{Name: "DATASTORE_TYPE", Value: "kubernetes"},
			{Name: "USE_POD_CIDR", Value: "true"},
			{Name: "WAIT_FOR_DATASTORE", Value: "true"},
			{Name: calico.EnvNetworkingBackend, Value: "none"},
			{Name: "CLUSTER_TYPE", Value: "k8s,canal"},
			{Name: "FELIX_IPTABLESREFRESHINTERVAL", Value: "60"},
			{Name: "IP", Value: ""},
			{Name: "FELIX_DEFAULTENDPOINTTOHOSTACTION", Value: "ACCEPT"},
			{Name: "FELIX_IPV6SUPPORT", Value: "false"},
			{Name: "FELIX_HEALTHENABLED", Value: "true"},
		}},
		{Name: canal.FlannelContainer, Image: FlannelImage, Command: []string{"/opt/bin/flanneld", "--ip-masq", "--kube-subnet-mgr"}},
	}
	return ds
}

// NodeObject is flannel's annotations; felix in policy-only mode writes none.
func (l Layout) NodeObject(c *fixture.Cluster, nd *fixture.Node, obj *corev1.Node) {
	l.flannel().NodeObject(c, nd, obj)
}

// Host is flannel's host without its cni0 bridge (calico's CNI plugin wires pods on /32
// veths), and felix's proxy_arp defaults.
func (l Layout) Host(c *fixture.Cluster, nd *fixture.Node) fixture.HostParts {
	p := l.flannel().Host(c, nd)
	br := flannel.NewConfig().Bridge
	p.Interfaces = slices.DeleteFunc(p.Interfaces, func(i netstack.Interface) bool { return i.Name == br })
	p.Routes = slices.DeleteFunc(p.Routes, func(r netstack.Route) bool { return r.Device == br })
	p.LocalRoutes = slices.DeleteFunc(p.LocalRoutes, func(r netstack.Route) bool { return r.Device == br })
	for k := range p.Sysctls {
		if strings.Contains(k, "/"+br+"/") {
			delete(p.Sysctls, k)
		}
	}
	p.Sysctls["ipv4/conf/all/proxy_arp"] = "0"
	p.Sysctls["ipv4/conf/eth0/proxy_arp"] = "0"
	return p
}

// Peer is flannel's route to peer's subnet.
func (l Layout) Peer(c *fixture.Cluster, nd, peer *fixture.Node, h *netstack.Netstack) {
	l.flannel().Peer(c, nd, peer, h)
}

// Pod is calico's pod: a cali veth with its /32 route and proxy ARP.
func (l Layout) Pod(c *fixture.Cluster, p *fixture.Pod, h *netstack.Netstack) fixture.PodParts {
	return l.calicoPods().Pod(c, p, h)
}

// Rules are felix's chains first, then kube-proxy's, then flanneld's, then felix's tail.
func (l Layout) Rules(c *fixture.Cluster, nd *fixture.Node, t *ruleset.Tables, kubeProxy func()) {
	l.calicoPolicy().Rules(c, nd, t, func() { l.flannel().Rules(c, nd, t, kubeProxy) })
}

// IPSets are felix's sets with no IP pool: canal's pods are masqueraded by flanneld, not by
// felix's nat-outgoing.
func (Layout) IPSets(*fixture.Cluster) string {
	var b strings.Builder
	for _, set := range []string{"cali40masq-ipam-pools", "cali40all-ipam-pools"} {
		fmt.Fprintf(&b, "create %s hash:net family inet hashsize 1024 maxelem 1048576 bucketsize 12 initval 0x5e3b7d5a\n", set)
	}
	return b.String()
}

// DenyIngress is what felix writes for a policy that isolates p for ingress.
func (l Layout) DenyIngress(c *fixture.Cluster, p *fixture.Pod, name string) {
	l.calicoPolicy().DenyIngress(c, p, name)
}
