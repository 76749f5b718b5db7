package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/test/lab"
)

// zoneOf puts node-1 and node-2 in zone-a and node-3 in zone-b, so web (node-1) is close
// to big-0..7 and far from big-8..11.
func zoneOf(node string) string {
	if node == "node-3" {
		return "zone-b"
	}
	return "zone-a"
}

// topologySpecs are the endpoints kube-proxy leaves out on purpose: those of another zone
// under trafficDistribution PreferClose, and terminating ones while others are ready. Each
// answer is checked first against kube-proxy's own rules on web's node and real packets.
func topologySpecs(shared func() *env) {
	Context("with endpoints kube-proxy leaves out on purpose", Ordered, func() {
		var e *env
		BeforeAll(func(ctx SpecContext) {
			e = shared()
			e.labelZones(ctx)
			port := corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}
			near := service("big-near", "big", corev1.ServiceTypeClusterIP, port)
			near.Spec.TrafficDistribution = ptr.To(corev1.ServiceTrafficDistributionPreferClose)
			e.create(ctx, near)
			e.deployTerminating(ctx)
		}, NodeTimeout(2*time.Minute))

		It("follows only web's zone under trafficDistribution PreferClose: Reachable, with no rule missing for the far zone", func(ctx SpecContext) {
			e.expectProxyEndpoints(ctx, "big-near", bigNames(0, 8), bigNames(8, 12))
			nd := e.expectVerdict(ctx, MakeDiagnosis(uniqueName("web-to-near")).FromPod("web").ToService("big-near", 80).Obj(),
				diagv1alpha1.VerdictReachable, "and 7 more (every branch)")
			expectOnlyInfo(nd)
		}, SpecTimeout(3*time.Minute))

		It("stays Reachable under PreferClose when a pod of the far zone drops, which kube-proxy never sends to", func(ctx SpecContext) {
			e.iptablesInsert(ctx, e.podNetns("big-9"), "INPUT", "-p", "tcp", "--dport", "8080", "-j", "DROP")
			e.probeEach(ctx, allBig("big-9"))
			e.expectProxyEndpoints(ctx, "big-near", bigNames(0, 8), bigNames(8, 12))
			expectOnlyInfo(e.expectVerdict(ctx, MakeDiagnosis(uniqueName("web-to-near")).FromPod("web").ToService("big-near", 80).Obj(),
				diagv1alpha1.VerdictReachable))
		}, SpecTimeout(3*time.Minute))

		It("is PartiallyReachable under PreferClose, naming the pod of web's zone that drops", func(ctx SpecContext) {
			e.iptablesInsert(ctx, e.podNetns("big-2"), "INPUT", "-p", "tcp", "--dport", "8080", "-j", "DROP")
			e.probeEach(ctx, allBig("big-2"))
			e.expectVerdict(ctx, MakeDiagnosis(uniqueName("web-to-near")).FromPod("web").ToService("big-near", 80).Obj(),
				diagv1alpha1.VerdictPartiallyReachable, "arrives by 7 of 8 branches", "pod/shop/big-2")
		}, SpecTimeout(3*time.Minute))

		It("sends only to the ready endpoint while another is terminating: Reachable with the terminating one dropping", func(ctx SpecContext) {
			e.expectProxyEndpoints(ctx, "term", bigNames(4, 5), bigNames(5, 6))
			e.iptablesInsert(ctx, e.podNetns("big-5"), "INPUT", "-p", "tcp", "--dport", "8080", "-j", "DROP")
			e.expectService(ctx, "term", true)
			expectOnlyInfo(e.expectVerdict(ctx, MakeDiagnosis(uniqueName("web-to-term")).FromPod("web").ToService("term", 80).Obj(),
				diagv1alpha1.VerdictReachable))
		}, SpecTimeout(3*time.Minute))

		It("is Unreachable, naming the ready endpoint, when it drops while the other is terminating", func(ctx SpecContext) {
			e.iptablesInsert(ctx, e.podNetns("big-4"), "INPUT", "-p", "tcp", "--dport", "8080", "-j", "DROP")
			e.expectService(ctx, "term", false)
			expectPodSuspected(e.expectVerdict(ctx, MakeDiagnosis(uniqueName("web-to-term")).FromPod("web").ToService("term", 80).Obj(),
				diagv1alpha1.VerdictUnreachable), "big-4")
		}, SpecTimeout(3*time.Minute))

		It("sends to serving terminating endpoints when none is ready, and names the one that drops", func(ctx SpecContext) {
			e.expectProxyEndpoints(ctx, "term-only", bigNames(6, 7), nil)
			e.expectService(ctx, "term-only", true)
			expectOnlyInfo(e.expectVerdict(ctx, MakeDiagnosis(uniqueName("web-to-term-only")).FromPod("web").ToService("term-only", 80).Obj(),
				diagv1alpha1.VerdictReachable))

			e.iptablesInsert(ctx, e.podNetns("big-6"), "INPUT", "-p", "tcp", "--dport", "8080", "-j", "DROP")
			e.expectService(ctx, "term-only", false)
			expectPodSuspected(e.expectVerdict(ctx, MakeDiagnosis(uniqueName("web-to-term-only")).FromPod("web").ToService("term-only", 80).Obj(),
				diagv1alpha1.VerdictUnreachable), "big-6")
		}, SpecTimeout(3*time.Minute))

		It("is Unreachable by ServiceNoEndpoints when the only endpoint is terminating and no longer serving", func(ctx SpecContext) {
			e.expectProxyEndpoints(ctx, "term-gone", nil, bigNames(7, 8))
			e.expectService(ctx, "term-gone", false)
			nd := e.expectVerdict(ctx, MakeDiagnosis(uniqueName("web-to-term-gone")).FromPod("web").ToService("term-gone", 80).Obj(),
				diagv1alpha1.VerdictUnreachable)
			Expect(reasons(nd)).To(ContainElement(string(model.ReasonServiceNoEndpoints)))
		}, SpecTimeout(3*time.Minute))
	})
}

// labelZones gives every node its zone label, as a cloud's node controller would, before
// the Services whose slices carry zones are made, and takes the labels off again after.
func (e *env) labelZones(ctx context.Context) {
	GinkgoHelper()
	for _, n := range e.lab.Nodes() {
		e.setNodeLabel(ctx, n.Name, corev1.LabelTopologyZone, zoneOf(n.Name))
		DeferCleanup(func(ctx SpecContext) { e.setNodeLabel(ctx, n.Name, corev1.LabelTopologyZone, "") })
	}
}

// setNodeLabel sets a node's label, or removes it for an empty value.
func (e *env) setNodeLabel(ctx context.Context, node, key, value string) {
	GinkgoHelper()
	Eventually(func() error {
		n := &corev1.Node{}
		if err := e.client.Get(ctx, client.ObjectKey{Name: node}, n); err != nil {
			return err
		}
		if value == "" {
			delete(n.Labels, key)
		} else {
			if n.Labels == nil {
				n.Labels = map[string]string{}
			}
			n.Labels[key] = value
		}
		return e.client.Update(ctx, n)
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
}

// deployTerminating creates three Services without selectors whose EndpointSlices, written
// as the EndpointSlice controller writes them for pods being deleted, list:
//   - term: big-4 ready and big-5 terminating but still serving;
//   - term-only: big-6 terminating and serving, nothing ready;
//   - term-gone: big-7 terminating and no longer serving.
func (e *env) deployTerminating(ctx context.Context) {
	GinkgoHelper()
	ready := discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)}
	draining := discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(true), Terminating: ptr.To(true)}
	gone := discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(false), Terminating: ptr.To(true)}
	type endpoint struct {
		pod        string
		conditions discoveryv1.EndpointConditions
	}
	for name, eps := range map[string][]endpoint{
		"term":      {{"big-4", ready}, {"big-5", draining}},
		"term-only": {{"big-6", draining}},
		"term-gone": {{"big-7", gone}},
	} {
		svc := service(name, "", corev1.ServiceTypeClusterIP, corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP})
		svc.Spec.Selector = nil
		e.create(ctx, svc)
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-1", Namespace: shopNamespace,
				Labels: map[string]string{discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: "staff"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}},
		}
		for _, ep := range eps {
			pod := e.pod(ctx, ep.pod)
			slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
				Addresses:  []string{pod.Status.PodIP},
				Conditions: ep.conditions,
				NodeName:   ptr.To(pod.Spec.NodeName),
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: shopNamespace, Name: ep.pod, UID: pod.UID},
			})
		}
		e.create(ctx, slice)
	}
}

// expectProxyEndpoints waits until kube-proxy on web's node names every pod of used in
// service's rules and none of unused: what it programmed, not what the engine infers.
func (e *env) expectProxyEndpoints(ctx context.Context, service string, used, unused []string) {
	GinkgoHelper()
	ip := func(pod string) string { return e.podIP(ctx, pod).String() }
	argv := []string{"iptables-save", "-t", "nat"}
	if e.proxy == lab.ProxyNFTables {
		argv = []string{"nft", "list", "table", "ip", "kube-proxy"}
	}
	// kube-proxy names the service in each rule that sends to an endpoint (a comment in
	// iptables, a chain's name in nftables) and the endpoint by its address: a line of
	// iptables-save, a chain of nft's listing.
	named := func(rules, pod string) bool {
		var units []string
		if e.proxy == lab.ProxyNFTables {
			units = strings.Split(rules, "\n\tchain ")
		} else {
			units = strings.Split(rules, "\n")
		}
		addr := ip(pod)
		for _, u := range units {
			if !strings.Contains(u, shopNamespace+"/"+service+":") && !strings.Contains(u, shopNamespace+"/"+service+"/") {
				continue
			}
			if strings.Contains(u, addr+":") || strings.Contains(u, addr+" . ") || strings.Contains(u, "__"+addr+"/") {
				return true
			}
		}
		return false
	}
	Eventually(func(g Gomega) {
		out, err := e.lab.Exec(ctx, e.node("node-1").Netns, argv...)
		g.Expect(err).NotTo(HaveOccurred())
		for _, p := range used {
			g.Expect(named(string(out), p)).To(BeTrue(), "kube-proxy on node-1 sends %s to %s", service, p)
		}
		for _, p := range unused {
			g.Expect(named(string(out), p)).To(BeFalse(), "kube-proxy on node-1 leaves %s out of %s", p, service)
		}
	}).WithContext(ctx).WithTimeout(60 * time.Second).Should(Succeed())
}

// expectService checks with real packets from web that service answers or not, several
// times, so that an answer does not depend on which endpoint one connection was given.
func (e *env) expectService(ctx context.Context, service string, reachable bool) {
	GinkgoHelper()
	spec := lab.ProbeSpec{From: e.podNetns("web"), To: netip.AddrPortFrom(e.clusterIP(ctx, service), 80), Protocol: lab.TCP}
	for range 3 {
		got := probeUntil(ctx, spec, reachable, 15*time.Second)
		Expect(got.Reachable).To(Equal(reachable), "the lab's real packets from web to %s: %s", service, got)
	}
}

// bigNames are big-from .. big-(to-1).
func bigNames(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("big-%d", i))
	}
	return out
}

// expectOnlyInfo expects a diagnosis without warnings: the endpoints kube-proxy leaves out
// on purpose are no missing rule.
func expectOnlyInfo(nd *diagv1alpha1.NetworkDiagnosis) {
	GinkgoHelper()
	for _, s := range nd.Status.Suspicions {
		Expect(s.Level).To(Equal(diagv1alpha1.LevelInfo), "no warning: %s %s", s.Reason, s.Message)
	}
}

// expectPodSuspected expects a Critical suspicion of a shop pod.
func expectPodSuspected(nd *diagv1alpha1.NetworkDiagnosis, pod string) {
	GinkgoHelper()
	Expect(nd.Status.Suspicions).To(ContainElement(Satisfy(func(s diagv1alpha1.Suspicion) bool {
		return s.Level == diagv1alpha1.LevelCritical && s.Pod == shopNamespace+"/"+pod
	})), "the drop in %s is a suspicion of that pod: %v", pod, nd.Status.Suspicions)
}
