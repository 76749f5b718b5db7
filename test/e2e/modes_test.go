package e2e

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/test/lab"
)

// A mode is one lab the specs share: a pod network and a kube-proxy mode. Flannel vxlan
// runs every case; the others a representative subset, so the suite stays within minutes.
type modeSpec struct {
	name  string // lab name: at most 8 characters
	mode  lab.Mode
	proxy lab.ProxyMode
	// full runs every case; otherwise only the cases marked for every mode or this one.
	full bool
}

var modes = []modeSpec{
	{"ndevx", lab.ModeFlannelVXLAN, lab.ProxyIPTables, true},
	{"ndehg", lab.ModeFlannelHostGW, lab.ProxyNFTables, false},
	{"ndecr", lab.ModeCalicoRouted, lab.ProxyIPTables, false},
	{"ndecv", lab.ModeCalicoVXLAN, lab.ProxyNFTables, false},
	{"ndekn", lab.ModeKindnet, lab.ProxyIPTables, false},
}

// faultCase is one spec: a question, an optional fault, and what the lab and netdiag must
// say. In the shop, web and api run on node-1 and db on node-2.
type faultCase struct {
	name string
	// in lists the modes (besides the full one) the case runs in; nil is every mode.
	in []lab.Mode
	// only lists the modes the case can run in at all (a fault that exists only there).
	only []lab.Mode
	// fault breaks the lab for this spec; nil leaves it healthy.
	fault func(ctx context.Context, e *env)
	path  func(p paths) path
	want  func(e *env) want
}

func (c faultCase) runsIn(m modeSpec) bool {
	if c.only != nil && !slices.Contains(c.only, m.mode) {
		return false
	}
	return m.full || c.in == nil || slices.Contains(c.in, m.mode)
}

var (
	flannelVXLAN  = lab.ModeFlannelVXLAN
	flannelHostGW = lab.ModeFlannelHostGW
	calicoRouted  = lab.ModeCalicoRouted
	calicoVXLAN   = lab.ModeCalicoVXLAN
	kindnetMode   = lab.ModeKindnet
	vxlanModes    = []lab.Mode{flannelVXLAN, calicoVXLAN}
	// fullOnly marks a case for the full mode alone.
	fullOnly = []lab.Mode{}
)

var healthyCases = []faultCase{
	{
		name: "pod to pod on one node",
		path: func(p paths) path { return p.podToPod("web", "api", 8080) },
		want: func(*env) want { return reachable() },
	},
	{
		name: "pod to pod across nodes",
		path: func(p paths) path { return p.podToPod("web", "db", 5432) },
		want: func(*env) want { return reachable() },
	},
	{
		name: "pod to a ClusterIP service",
		path: func(p paths) path { return p.podToService("web", "db", 5432, lab.TCP) },
		want: func(*env) want { return reachable() },
	},
	{
		name: "pod to a UDP service",
		path: func(p paths) path { return p.podToService("web", "api", 53, lab.UDP) },
		want: func(*env) want { return reachable() },
	},
	{
		name: "NodePort from the external host",
		// The web pod runs on node-1: node-2 forwards to it.
		path: func(p paths) path { return p.externalToNodePort("node-2", nodePort) },
		want: func(*env) want { return reachable() },
	},
	{
		name: "node to pod",
		path: func(p paths) path { return p.nodeToPod("node-2", "web", 8080) },
		want: func(*env) want { return reachable() },
	},
	{
		name: "pod to external",
		path: func(p paths) path { return p.podToInternet("web", 443) },
		want: func(*env) want { return reachable() },
	},
}

var faultCases = []faultCase{
	{
		name: "route to the peer node's pod CIDR removed",
		// flanneld's host-gw backend puts its routes back within seconds.
		in: []lab.Mode{calicoRouted, calicoVXLAN, kindnetMode}, only: []lab.Mode{flannelVXLAN, calicoRouted, calicoVXLAN, kindnetMode},
		fault: func(ctx context.Context, e *env) {
			e.keepRoutes(ctx, e.node("node-1").Netns)
			e.run(ctx, e.node("node-1").Netns, "ip", "route", "del", e.node("node-2").PodCIDR.String())
		},
		path: func(p paths) path { return p.podToPod("web", "db", 5432) },
		want: func(*env) want { return unreachable(model.ReasonRouteWrongNode, "node-1") },
	},
	{
		name: "route to the destination pod blackholed",
		fault: func(ctx context.Context, e *env) {
			e.blackhole(ctx, "node-1", e.podIP(ctx, "db"))
		},
		path: func(p paths) path { return p.podToPod("web", "db", 5432) },
		want: func(*env) want { return unreachable(model.ReasonRouteBlackhole, "node-1") },
	},
	{
		name: "DROP in the destination node's FORWARD chain",
		fault: func(ctx context.Context, e *env) {
			e.iptablesInsert(ctx, e.node("node-2").Netns, "FORWARD", "-d", e.podIP(ctx, "db").String()+"/32", "-j", "DROP")
		},
		path: func(p paths) path { return p.podToPod("web", "db", 5432) },
		want: func(*env) want { return unreachable(model.ReasonIPTablesDrop, "node-2") },
	},
	{
		name: "DROP in the destination pod's INPUT chain",
		fault: func(ctx context.Context, e *env) {
			e.iptablesInsert(ctx, e.podNetns("db"), "INPUT", "-p", "tcp", "--dport", "5432", "-j", "DROP")
		},
		path: func(p paths) path { return p.podToPod("web", "db", 5432) },
		want: func(*env) want { return unreachable(model.ReasonIPTablesDrop, "node-2").inPod("db") },
	},
	{
		name: "the destination pod's host-side veth down",
		in:   []lab.Mode{flannelHostGW, kindnetMode},
		fault: func(ctx context.Context, e *env) {
			e.linkDown(ctx, e.node("node-2").Netns, e.hostVeth(ctx, "db", "node-2"))
		},
		path: func(p paths) path { return p.podToPod("web", "db", 5432) },
		want: func(*env) want { return unreachable(model.ReasonInterfaceDown, "node-2") },
	},
	{
		name: "forwarding off on the destination node",
		fault: func(ctx context.Context, e *env) {
			e.sysctl(ctx, e.node("node-2").Netns, "net.ipv4.ip_forward", "0")
		},
		path: func(p paths) path { return p.podToPod("web", "db", 5432) },
		want: func(*env) want { return unreachable(model.ReasonIPForwardDisabled, "node-2") },
	},
	{
		name: "vxlan fdb entry for the peer node removed",
		in:   vxlanModes, only: vxlanModes,
		fault: func(ctx context.Context, e *env) {
			e.removeFDBEntry(ctx, "node-1", "node-2")
		},
		path: func(p paths) path { return p.podToPod("web", "db", 5432) },
		want: func(e *env) want { return unreachable(model.ReasonFDBMissing, "node-1").onInterface(e.vxlanDevice()) },
	},
	{
		name: "service without endpoints",
		fault: func(ctx context.Context, e *env) {
			e.createService(ctx, service("ghost", "ghost", corev1.ServiceTypeClusterIP,
				corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}))
		},
		path: func(p paths) path { return p.podToService("web", "ghost", 80, lab.TCP) },
		want: func(*env) want { return unreachable(model.ReasonServiceNoEndpoints, "node-1") },
	},
	{
		name: "service whose targetPort nobody listens on",
		fault: func(ctx context.Context, e *env) {
			e.createService(ctx, service("db-typo", "db", corev1.ServiceTypeClusterIP,
				corev1.ServicePort{Port: 5432, TargetPort: intstr.FromInt32(5433), Protocol: corev1.ProtocolTCP}))
		},
		path: func(p paths) path { return p.podToService("web", "db-typo", 5432, lab.TCP) },
		want: func(*env) want { return unreachable(model.ReasonNotListening, "node-2").inPod("db") },
	},
	{
		name: "UDP service whose targetPort nobody listens on",
		in:   []lab.Mode{calicoVXLAN},
		fault: func(ctx context.Context, e *env) {
			e.createService(ctx, service("dns-typo", "api", corev1.ServiceTypeClusterIP,
				corev1.ServicePort{Port: 53, TargetPort: intstr.FromInt32(5354), Protocol: corev1.ProtocolUDP}))
		},
		path: func(p paths) path { return p.podToService("web", "dns-typo", 53, lab.UDP) },
		want: func(*env) want { return unreachable(model.ReasonNotListening, "node-1").inPod("api") },
	},
	{
		name: "source pod's eth0 down",
		in:   []lab.Mode{calicoRouted},
		fault: func(ctx context.Context, e *env) {
			e.linkDown(ctx, e.podNetns("web"), "eth0")
		},
		path: func(p paths) path { return p.podToPod("web", "db", 5432) },
		want: func(*env) want {
			return unreachable(model.ReasonInterfaceDown, "node-1").inPod("web").onInterface("eth0")
		},
	},
	{
		name: "pod's lo down, the pod to itself",
		in:   fullOnly,
		fault: func(ctx context.Context, e *env) {
			e.linkDown(ctx, e.podNetns("db"), "lo")
		},
		path: func(p paths) path { return p.podToPod("db", "db", 5432) },
		want: func(*env) want { return unreachable(model.ReasonInterfaceDown, "node-2").inPod("db").onInterface("lo") },
	},
	{
		name: "source pod without routes",
		in:   []lab.Mode{calicoVXLAN},
		fault: func(ctx context.Context, e *env) {
			ns := e.podNetns("web")
			e.keepRoutes(ctx, ns)
			e.run(ctx, ns, "ip", "route", "flush", "table", "main")
		},
		path: func(p paths) path { return p.podToPod("web", "db", 5432) },
		want: func(*env) want { return unreachable(model.ReasonRouteMissing, "node-1").inPod("web") },
	},
	{
		name: "source pod with a wrong default route",
		in:   fullOnly,
		fault: func(ctx context.Context, e *env) {
			ns := e.podNetns("web")
			e.keepRoutes(ctx, ns)
			// An address on the pod's subnet that nobody holds: the neighbour never resolves.
			wrong := e.node("node-1").PodCIDR.Addr().As4()
			wrong[3] = 200
			e.run(ctx, ns, "ip", "route", "replace", "default", "via", netip.AddrFrom4(wrong).String(), "dev", "eth0", "onlink")
		},
		// A Service's cluster IP is only reached through the default route.
		path: func(p paths) path { return p.podToService("web", "db", 5432, lab.TCP) },
		want: func(*env) want { return unreachable(model.ReasonNeighbourMissing, "node-1").inPod("web") },
	},
	{
		// The collector of node-1 must still get its snapshot home: it goes straight to the
		// API server's endpoints, not through the kubernetes Service that these rules served.
		name: "kube-proxy stopped and its service rules flushed on the source's node",
		in:   fullOnly,
		fault: func(ctx context.Context, e *env) {
			e.stopKubeProxy(ctx, "node-1")
			e.run(ctx, e.node("node-1").Netns, "iptables", "-w", "-t", "nat", "-F", "KUBE-SERVICES")
		},
		path: func(p paths) path { return p.podToService("web", "db", 5432, lab.TCP) },
		want: func(*env) want { return unreachable(model.ReasonServiceRulesMissing, "node-1") },
	},
	{
		name: "wrong route to the peer node's pod CIDR",
		in:   []lab.Mode{calicoRouted, kindnetMode}, only: []lab.Mode{flannelVXLAN, calicoRouted, calicoVXLAN, kindnetMode},
		fault: func(ctx context.Context, e *env) {
			n1 := e.node("node-1").Netns
			e.keepRoutes(ctx, n1)
			// The control-plane host is on the underlay and forwards nothing.
			e.run(ctx, n1, "ip", "route", "replace", e.node("node-2").PodCIDR.String(), "via", e.lab.ControlPlane().IP.String(), "dev", "eth0")
		},
		path: func(p paths) path { return p.podToPod("web", "db", 5432) },
		want: func(*env) want { return unreachable(model.ReasonRouteWrongNode, "node-1") },
	},
}

var _ = Describe("netdiag on the lab", func() {
	for _, m := range modes {
		Context(string(m.mode)+" with kube-proxy "+string(m.proxy), Ordered, ContinueOnFailure, Label(string(m.mode)), func() {
			var e *env
			BeforeAll(func(ctx SpecContext) {
				requireLab()
				e = startEnv(ctx, m.name, m.mode, m.proxy)
				DeferCleanup(func(ctx SpecContext) { e.stop(ctx) })
			}, NodeTimeout(3*time.Minute))

			BeforeEach(func() {
				// Registered first, run last: after the spec's own cleanups undid its faults.
				DeferCleanup(func(ctx SpecContext) { e.expectHealthy(ctx) })
			})

			for _, c := range healthyCases {
				It("finds "+c.name+" Reachable", func(ctx SpecContext) {
					e.expectDiagnosis(ctx, c.path(paths{e: e, ctx: ctx}), c.want(e))
				}, SpecTimeout(2*time.Minute))
			}

			It("does not let a NetworkPolicy the plugin does not enforce make a reachable path Unreachable", func(ctx SpecContext) {
				if !m.mode.Flannel() {
					Skip("not applicable: " + string(m.mode) + " enforces NetworkPolicy through rules the lab does not lay")
				}
				e.denyAllIngress(ctx, "db")
				nd := e.expectDiagnosis(ctx, paths{e: e, ctx: ctx}.podToPod("web", "db", 5432), reachable())
				Expect(nd.Status.Suspicions).To(ContainElement(HaveField("Reason", string(model.ReasonPolicyNotEnforced))),
					"the policy that would deny is named")
			}, SpecTimeout(2*time.Minute))

			for _, c := range slices.Concat(faultCases, kindnetCases) {
				if !c.runsIn(m) {
					continue
				}
				It("finds "+c.name+" Unreachable and names it", func(ctx SpecContext) {
					c.fault(ctx, e)
					e.expectDiagnosis(ctx, c.path(paths{e: e, ctx: ctx}), c.want(e))
				}, SpecTimeout(2*time.Minute))
			}

			It("warns about a pod MTU lowered below the path's", func(ctx SpecContext) {
				if !m.full {
					Skip("covered in " + string(modes[0].mode))
				}
				e.mtuSpec(ctx)
			}, SpecTimeout(2*time.Minute))
		})
	}
})

// denyAllIngress creates a NetworkPolicy that isolates pod app for ingress with no rule,
// deleted when the spec ends.
func (e *env) denyAllIngress(ctx context.Context, app string) {
	GinkgoHelper()
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "deny-" + app, Namespace: shopNamespace},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		},
	}
	e.create(ctx, np)
	DeferCleanup(func(ctx SpecContext) { Expect(e.client.Delete(ctx, np)).To(Succeed()) })
}

// mtuSpec lowers the destination pod's eth0 MTU below the path's (1450 on flannel.1 and on
// the host side of its veth). The lab shows what that does: connections and small packets
// still pass (TCP's MSS follows the lower MTU), full-size packets from the other side are
// dropped at the pod's veth. The question netdiag answers carries no packet size, so the
// truth for it is the small probe's Reachable; the large probe confirms the Warning netdiag
// must raise at the pod.
func (e *env) mtuSpec(ctx context.Context) {
	GinkgoHelper()
	db := e.podNetns("db")
	p := paths{e: e, ctx: ctx}.podToPod("web", "db", 5432)
	big := lab.ProbeSpec{From: p.probe.From, To: p.probe.To, Protocol: lab.ICMP, Payload: 1400, Timeout: time.Second}
	// Asked about packets of that size (1400 bytes of payload, 28 of headers), netdiag
	// answers for them: first on the healthy path, then where the lab loses them.
	large := func() path {
		return path{nd: MakeDiagnosis(uniqueName("web-to-db-large")).FromPod("web").ToPod("db", 0).
			Protocol(diagv1alpha1.ProtocolICMP).PacketSize(1428, false).Obj(), probe: big}
	}
	e.expectDiagnosis(ctx, large(), reachable())

	was := strings.TrimSpace(e.run(ctx, db, "cat", "/sys/class/net/eth0/mtu"))
	e.inject(ctx, db, []string{"ip", "link", "set", "eth0", "mtu", "1000"}, []string{"ip", "link", "set", "eth0", "mtu", was})
	got := lab.Probe(ctx, big)
	Expect(got.Reachable).To(BeFalse(), "a 1428-byte ICMP echo to a pod with MTU 1000: %s", got)
	small := big
	small.Payload = 56
	Expect(lab.Probe(ctx, small).Reachable).To(BeTrue(), "a small ICMP echo still passes")
	w := reachable()
	w.reason, w.node, w.pod = model.ReasonMTUMismatch, "node-2", shopNamespace+"/db"
	e.expectDiagnosis(ctx, p, w)

	e.expectDiagnosis(ctx, large(), unreachable(model.ReasonPacketTooBig, "node-2").inPod("db"))
}
