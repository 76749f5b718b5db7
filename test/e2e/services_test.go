package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
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

// bigEndpoints is the size of the big Service: more endpoints than the eight a diagnosis
// once followed, the last four on node-3, which the first eight do not reach.
const bigEndpoints = 12

// bigNode places big-i: the first eight on node-1 and node-2, the rest on node-3.
func bigNode(i int) string {
	if i >= 8 {
		return "node-3"
	}
	return fmt.Sprintf("node-%d", 1+i%2)
}

// externalIP is the big Service's external IP: the lab's external host reaches it through
// node-1, as a router outside would.
var externalIP = netip.MustParseAddr("198.51.100.20")

// deployBig creates the pods big-0..11, the ClusterIP Service big over them with the
// external IP, and the headless Service big-headless; it waits for every pod to run.
func (e *env) deployBig(ctx context.Context) {
	GinkgoHelper()
	for i := range bigEndpoints {
		e.create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("big-%d", i), Namespace: shopNamespace, Labels: map[string]string{"app": "big"}},
			Spec: corev1.PodSpec{
				NodeSelector: map[string]string{"kubernetes.io/hostname": bigNode(i)},
				Containers:   []corev1.Container{{Name: "big", Image: "shop/big:1", Ports: []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}},
			},
		})
	}
	port := corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}
	big := service("big", "big", corev1.ServiceTypeClusterIP, port)
	big.Spec.ExternalIPs = []string{externalIP.String()}
	e.create(ctx, big)
	headless := service("big-headless", "big", corev1.ServiceTypeClusterIP, port)
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	e.create(ctx, headless)
	for i := range bigEndpoints {
		_, err := e.lab.WaitPodRunning(ctx, shopNamespace, fmt.Sprintf("big-%d", i))
		Expect(err).NotTo(HaveOccurred())
	}
	e.waitProxySynced(ctx)
}

// waitProxySynced waits until kube-proxy on every node has a rule for every big endpoint:
// the pods answer before kube-proxy has caught up with their slices, which a diagnosis
// rightly reports as rules missing.
func (e *env) waitProxySynced(ctx context.Context) {
	GinkgoHelper()
	var ips []string
	for i := range bigEndpoints {
		ips = append(ips, e.podIP(ctx, fmt.Sprintf("big-%d", i)).String())
	}
	for _, n := range e.lab.Nodes() {
		Eventually(func(g Gomega) {
			argv := []string{"iptables-save", "-t", "nat"}
			if e.proxy == lab.ProxyNFTables {
				argv = []string{"nft", "list", "table", "ip", "kube-proxy"}
			}
			out, err := e.lab.Exec(ctx, n.Netns, argv...)
			g.Expect(err).NotTo(HaveOccurred())
			for _, ip := range ips {
				// kube-proxy names each endpoint in its rules (a DNAT, the hairpin set).
				g.Expect(regexp.MustCompile(`\b`+regexp.QuoteMeta(ip)+`\b`).Match(out)).To(BeTrue(), "kube-proxy on %s has no rule for %s", n.Name, ip)
			}
		}).WithContext(ctx).WithTimeout(60 * time.Second).Should(Succeed())
	}
}

// probeEach checks every big pod with real packets from web and returns the ones that do
// not answer.
func (e *env) probeEach(ctx context.Context, reachable map[string]bool) {
	GinkgoHelper()
	for i := range bigEndpoints {
		name := fmt.Sprintf("big-%d", i)
		want := reachable[name]
		got := probeUntil(ctx, lab.ProbeSpec{From: e.podNetns("web"), To: netip.AddrPortFrom(e.podIP(ctx, name), 8080), Protocol: lab.TCP}, want, 10*time.Second)
		Expect(got.Reachable).To(Equal(want), "the lab's real packets from web to %s: %s", name, got)
	}
}

func allBig(except ...string) map[string]bool {
	m := map[string]bool{}
	for i := range bigEndpoints {
		m[fmt.Sprintf("big-%d", i)] = true
	}
	for _, x := range except {
		m[x] = false
	}
	return m
}

// localIP is the external IP of the Service solo over db (on node-2), whose traffic
// policies are Local.
var localIP = netip.MustParseAddr("198.51.100.21")

// deploySolo creates the Services the Local policies and the hairpin are asked about: solo
// over db with externalTrafficPolicy Local and an external IP, solo-internal over db with
// internalTrafficPolicy Local, and self over web alone, which web reaches through itself.
func (e *env) deploySolo(ctx context.Context) {
	GinkgoHelper()
	port := corev1.ServicePort{Name: "pg", Port: 5432, TargetPort: intstr.FromInt32(5432), Protocol: corev1.ProtocolTCP, NodePort: 30543}
	solo := service("solo", "db", corev1.ServiceTypeNodePort, port)
	solo.Spec.ExternalIPs = []string{localIP.String()}
	solo.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	e.create(ctx, solo)
	internal := service("solo-internal", "db", corev1.ServiceTypeClusterIP, corev1.ServicePort{Name: "pg", Port: 5432, TargetPort: intstr.FromInt32(5432), Protocol: corev1.ProtocolTCP})
	local := corev1.ServiceInternalTrafficPolicyLocal
	internal.Spec.InternalTrafficPolicy = &local
	e.create(ctx, internal)
	e.create(ctx, service("self", "web", corev1.ServiceTypeClusterIP, corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}))

	// big-lb is a LoadBalancer over the big pods whose load balancer, as a cloud's
	// controller would, wrote lbIP into its status.
	lb := service("big-lb", "big", corev1.ServiceTypeLoadBalancer, corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP, NodePort: 30081})
	e.create(ctx, lb)
	Eventually(func() error {
		if err := e.client.Get(ctx, client.ObjectKeyFromObject(lb), lb); err != nil {
			return err
		}
		lb.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: lbIP.String()}}
		return e.client.Status().Update(ctx, lb)
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
}

// lbIP is big-lb's load-balancer ingress IP.
var lbIP = netip.MustParseAddr("198.51.100.22")

// Services as real clusters have them, on one three-node lab per kube-proxy mode: a Service
// with more endpoints than the nodes of its first eight cover, external IPs from outside
// through an entry node, Local traffic policies, a pod reaching itself through its Service,
// and a headless Service. Each spec checks the lab with real packets first.
var _ = Describe("Services", Label("services"), func() {
	for _, m := range []struct {
		name  string
		proxy lab.ProxyMode
	}{{"ndesvc", lab.ProxyIPTables}, {"ndesvn", lab.ProxyNFTables}} {
		Context("with kube-proxy in "+string(m.proxy)+" mode", Ordered, ContinueOnFailure, func() {
			servicesSpecs(m.name, m.proxy)
		})
	}
})

func servicesSpecs(name string, proxy lab.ProxyMode) {
	var e *env
	BeforeAll(func(ctx SpecContext) {
		requireLab()
		e = startEnvNodes(ctx, name, lab.ModeFlannelVXLAN, proxy, 3)
		DeferCleanup(func(ctx SpecContext) { e.stop(ctx) })
		e.deployBig(ctx)
		e.deploySolo(ctx)
		e.deployManual(ctx)
	}, NodeTimeout(5*time.Minute))

	It("follows every one of 12 endpoints on 3 nodes: Reachable when healthy", func(ctx SpecContext) {
		e.probeEach(ctx, allBig())
		expectOnlyInfo(e.expectVerdict(ctx, MakeDiagnosis(uniqueName("web-to-big")).FromPod("web").ToService("big", 80).Obj(),
			diagv1alpha1.VerdictReachable, "and 11 more (every branch)"))
	}, SpecTimeout(3*time.Minute))

	It("is PartiallyReachable, naming the dead endpoint, when big-11's pod drops its traffic", func(ctx SpecContext) {
		e.iptablesInsert(ctx, e.podNetns("big-11"), "INPUT", "-p", "tcp", "--dport", "8080", "-j", "DROP")
		e.probeEach(ctx, allBig("big-11"))
		expectPodSuspected(e.expectVerdict(ctx, MakeDiagnosis(uniqueName("web-to-big")).FromPod("web").ToService("big", 80).Obj(),
			diagv1alpha1.VerdictPartiallyReachable, "arrives by 11 of 12 branches", "pod/shop/big-11"), "big-11")
	}, SpecTimeout(3*time.Minute))

	It("reaches the external IP from outside through the entry node", func(ctx SpecContext) {
		e.fromOutside(ctx, externalIP, 80, "node-1", true)
		nd := MakeDiagnosis(uniqueName("ext-to-big")).FromIP(e.lab.External().IP).ToIP(externalIP, 80).Obj()
		nd.Spec.EntryNodes = []string{"node-1"}
		res := e.expectVerdict(ctx, nd, diagv1alpha1.VerdictReachable)
		Expect(reasons(res)).To(ContainElement("ServiceEntryNodes"))
	}, SpecTimeout(3*time.Minute))

	It("reaches the load-balancer IP from outside by every node, and names the entry that fails", func(ctx SpecContext) {
		e.fromOutside(ctx, lbIP, 80, "node-3", true)
		nd := e.expectVerdict(ctx, MakeDiagnosis(uniqueName("ext-to-lb")).FromIP(e.lab.External().IP).ToIP(lbIP, 80).Obj(),
			diagv1alpha1.VerdictReachable)
		Expect(reasons(nd)).To(ContainElement("ServiceEntryNodes"))

		e.iptablesInsert(ctx, e.node("node-2").Netns, "FORWARD", "-p", "tcp", "-m", "tcp", "--dport", "8080", "-j", "DROP")
		e.fromOutside(ctx, lbIP, 80, "node-2", false)
		e.expectVerdict(ctx, MakeDiagnosis(uniqueName("ext-to-lb")).FromIP(e.lab.External().IP).ToIP(lbIP, 80).Obj(),
			diagv1alpha1.VerdictPartiallyReachable, "fail (IPTablesDrop)", "stops at node/node-2")
	}, SpecTimeout(3*time.Minute))

	It("reaches an externalTrafficPolicy Local external IP through the node of its endpoint", func(ctx SpecContext) {
		e.fromOutside(ctx, localIP, 5432, "node-2", true)
		nd := MakeDiagnosis(uniqueName("ext-to-solo")).FromIP(e.lab.External().IP).ToIP(localIP, 5432).Obj()
		nd.Spec.EntryNodes = []string{"node-2"}
		e.expectVerdict(ctx, nd, diagv1alpha1.VerdictReachable)
	}, SpecTimeout(3*time.Minute))

	It("is Unreachable by ServiceLocalNoEndpoints through a node without a local endpoint", func(ctx SpecContext) {
		e.fromOutside(ctx, localIP, 5432, "node-1", false)
		nd := MakeDiagnosis(uniqueName("ext-to-solo")).FromIP(e.lab.External().IP).ToIP(localIP, 5432).Obj()
		nd.Spec.EntryNodes = []string{"node-1"}
		hasCriticalSuspicion(e.expectVerdict(ctx, nd, diagv1alpha1.VerdictUnreachable), model.ReasonServiceLocalNoEndpoints, "node-1")
	}, SpecTimeout(3*time.Minute))

	It("is Unreachable by ServiceLocalNoEndpoints for internalTrafficPolicy Local from a node without an endpoint", func(ctx SpecContext) {
		got := probeUntil(ctx, lab.ProbeSpec{From: e.podNetns("web"), To: netip.AddrPortFrom(e.clusterIP(ctx, "solo-internal"), 5432), Protocol: lab.TCP}, false, 10*time.Second)
		Expect(got.Reachable).To(BeFalse(), "the lab's real packets from web (node-1) to solo-internal: %s", got)
		nd := e.expectVerdict(ctx, MakeDiagnosis(uniqueName("web-to-solo")).FromPod("web").ToService("solo-internal", 5432).Obj(), diagv1alpha1.VerdictUnreachable)
		hasCriticalSuspicion(nd, model.ReasonServiceLocalNoEndpoints, "node-1")
	}, SpecTimeout(3*time.Minute))

	It("lets a pod reach itself through its Service, and names the bridge port without hairpin mode", func(ctx SpecContext) {
		self := lab.ProbeSpec{From: e.podNetns("web"), To: netip.AddrPortFrom(e.clusterIP(ctx, "self"), 80), Protocol: lab.TCP}
		Expect(probeUntil(ctx, self, true, 10*time.Second).Reachable).To(BeTrue(), "the lab's real packets from web to itself through self")
		e.expectVerdict(ctx, MakeDiagnosis(uniqueName("web-to-self")).FromPod("web").ToService("self", 80).Obj(), diagv1alpha1.VerdictReachable)

		veth := e.hostVeth(ctx, "web", "node-1")
		e.inject(ctx, e.node("node-1").Netns, []string{"ip", "link", "set", veth, "type", "bridge_slave", "hairpin", "off"},
			[]string{"ip", "link", "set", veth, "type", "bridge_slave", "hairpin", "on"})
		got := probeUntil(ctx, self, false, 10*time.Second)
		Expect(got.Reachable).To(BeFalse(), "the lab's real packets from web to itself without hairpin mode: %s", got)
		nd := e.expectVerdict(ctx, MakeDiagnosis(uniqueName("web-to-self")).FromPod("web").ToService("self", 80).Obj(), diagv1alpha1.VerdictUnreachable)
		hasCriticalSuspicion(nd, model.ReasonServiceHairpinModeOff, "node-1")
	}, SpecTimeout(3*time.Minute))

	It("follows a Service without a selector to the address its hand-made EndpointSlice lists, and names the drop there", func(ctx SpecContext) {
		manual := lab.ProbeSpec{From: e.podNetns("web"), To: netip.AddrPortFrom(e.clusterIP(ctx, "db-manual"), 5432), Protocol: lab.TCP}
		Expect(probeUntil(ctx, manual, true, 15*time.Second).Reachable).To(BeTrue(), "the lab's real packets from web to db-manual")
		e.expectVerdict(ctx, MakeDiagnosis(uniqueName("web-to-manual")).FromPod("web").ToService("db-manual", 5432).Obj(), diagv1alpha1.VerdictReachable)

		e.iptablesInsert(ctx, e.podNetns("db"), "INPUT", "-p", "tcp", "--dport", "5432", "-j", "DROP")
		got := probeUntil(ctx, manual, false, 10*time.Second)
		Expect(got.Reachable).To(BeFalse(), "the lab's real packets from web to db-manual with db dropping: %s", got)
		expectPodSuspected(e.expectVerdict(ctx, MakeDiagnosis(uniqueName("web-to-manual")).FromPod("web").ToService("db-manual", 5432).Obj(), diagv1alpha1.VerdictUnreachable), "db")
	}, SpecTimeout(3*time.Minute))

	It("reports an ExternalName Service as the DNS alias it is and follows the cluster Service it names", func(ctx SpecContext) {
		// An alias has no address of its own: a client resolves it to db's cluster IP.
		viaAlias := lab.ProbeSpec{From: e.podNetns("web"), To: netip.AddrPortFrom(e.clusterIP(ctx, "db"), 5432), Protocol: lab.TCP}
		Expect(probeUntil(ctx, viaAlias, true, 15*time.Second).Reachable).To(BeTrue(), "the lab's real packets from web to db, the alias's target")
		nd := e.expectVerdict(ctx, MakeDiagnosis(uniqueName("web-to-alias")).FromPod("web").ToService("db-alias", 5432).Obj(), diagv1alpha1.VerdictReachable)
		Expect(reasons(nd)).To(ContainElement(string(model.ReasonServiceExternalName)))

		e.iptablesInsert(ctx, e.podNetns("db"), "INPUT", "-p", "tcp", "--dport", "5432", "-j", "DROP")
		got := probeUntil(ctx, viaAlias, false, 10*time.Second)
		Expect(got.Reachable).To(BeFalse(), "the lab's real packets from web to db with db dropping: %s", got)
		e.expectVerdict(ctx, MakeDiagnosis(uniqueName("web-to-alias")).FromPod("web").ToService("db-alias", 5432).Obj(), diagv1alpha1.VerdictUnreachable)
	}, SpecTimeout(3*time.Minute))

	It("follows each ready pod of a headless Service, and names the one that drops", func(ctx SpecContext) {
		e.iptablesInsert(ctx, e.podNetns("big-3"), "INPUT", "-p", "tcp", "--dport", "8080", "-j", "DROP")
		e.probeEach(ctx, allBig("big-3"))
		e.expectVerdict(ctx, MakeDiagnosis(uniqueName("web-to-headless")).FromPod("web").ToService("big-headless", 80).Obj(),
			diagv1alpha1.VerdictPartiallyReachable, "arrives at 11 of its 12 ready pods", "pod/shop/big-3")
	}, SpecTimeout(3*time.Minute))

	topologySpecs(func() *env { return e })
	affinitySpecs(func() *env { return e })
}

// deployManual creates db-manual, a Service without a selector whose EndpointSlice is made
// by hand and lists db's address, as one made for a database outside Kubernetes would list
// its server; and db-alias, an ExternalName Service naming db's cluster name.
func (e *env) deployManual(ctx context.Context) {
	GinkgoHelper()
	port := corev1.ServicePort{Name: "pg", Port: 5432, TargetPort: intstr.FromInt32(5432), Protocol: corev1.ProtocolTCP}
	manual := service("db-manual", "", corev1.ServiceTypeClusterIP, port)
	manual.Spec.Selector = nil
	e.create(ctx, manual)
	e.create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "db-manual-1", Namespace: shopNamespace,
			Labels: map[string]string{discoveryv1.LabelServiceName: "db-manual", discoveryv1.LabelManagedBy: "staff"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{e.podIP(ctx, "db").String()}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("pg"), Port: ptr.To[int32](5432), Protocol: ptr.To(corev1.ProtocolTCP)}},
	})
	alias := service("db-alias", "", corev1.ServiceTypeExternalName)
	alias.Spec.Selector, alias.Spec.ExternalName = nil, "db."+shopNamespace+".svc.cluster.local"
	e.create(ctx, alias)
}

// expectVerdict diagnoses nd and expects it to succeed with verdict and every summary part.
func (e *env) expectVerdict(ctx context.Context, nd *diagv1alpha1.NetworkDiagnosis, verdict diagv1alpha1.Verdict, summary ...string) *diagv1alpha1.NetworkDiagnosis {
	GinkgoHelper()
	got := e.diagnose(ctx, nd)
	report := describe(got, lab.ProbeResult{})
	Expect(got.Status.Phase).To(Equal(diagv1alpha1.PhaseSucceeded), report)
	Expect(got.Status.Verdict).To(Equal(verdict), report)
	for _, s := range summary {
		Expect(got.Status.Summary).To(ContainSubstring(s), report)
	}
	return got
}

// fromOutside routes ip from the external host through node (a router's choice) and checks
// with real packets that port answers there or not.
func (e *env) fromOutside(ctx context.Context, ip netip.Addr, port uint16, node string, reachable bool) {
	GinkgoHelper()
	ext, n := e.lab.External(), e.node(node)
	e.inject(ctx, ext.Netns, []string{"ip", "route", "replace", ip.String() + "/32", "via", n.IP.String()},
		[]string{"ip", "route", "del", ip.String() + "/32"})
	got := probeUntil(ctx, lab.ProbeSpec{From: ext.Netns, To: netip.AddrPortFrom(ip, port), Protocol: lab.TCP}, reachable, 10*time.Second)
	Expect(got.Reachable).To(Equal(reachable), "the lab's real packets from outside to %s:%d through %s: %s", ip, port, node, got)
}

// hasCriticalSuspicion expects a Critical (or Fatal) suspicion of reason on node.
func hasCriticalSuspicion(nd *diagv1alpha1.NetworkDiagnosis, reason model.Reason, node string) {
	GinkgoHelper()
	Expect(nd.Status.Suspicions).To(ContainElement(Satisfy(func(s diagv1alpha1.Suspicion) bool {
		return s.Reason == string(reason) && s.Node == node && (s.Level == diagv1alpha1.LevelCritical || s.Level == diagv1alpha1.LevelFatal)
	})), "a Critical %s on %s: %v", reason, node, nd.Status.Suspicions)
}

func reasons(nd *diagv1alpha1.NetworkDiagnosis) []string {
	var out []string
	for _, s := range nd.Status.Suspicions {
		out = append(out, s.Reason)
	}
	return out
}
