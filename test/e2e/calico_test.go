package e2e

import (
	"context"
	"net/netip"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/test/lab"
)

// The calico labs run real felix (and BIRD in routed mode), one lab per felix dataplane:
// routed mode with felix's iptables backend, vxlan mode with its nftables backend, each with
// the kube-proxy of the same kind. Every fault is a Calico object felix programs, checked
// first against real packets.
var calicoLabs = []struct {
	name  string // lab name: at most 8 characters
	mode  lab.Mode
	proxy lab.ProxyMode
	felix lab.FelixDataplane
}{
	{"ndfcr", lab.ModeCalicoRouted, lab.ProxyIPTables, lab.FelixIPTables},
	{"ndfcv", lab.ModeCalicoVXLAN, lab.ProxyNFTables, lab.FelixNFTables},
}

var _ = Describe("netdiag on calico with real felix", func() {
	for _, c := range calicoLabs {
		Context(string(c.mode)+" with felix's "+string(c.felix)+" dataplane", Ordered, ContinueOnFailure, Label("calico"), func() {
			var e *env
			BeforeAll(func(ctx SpecContext) {
				requireLab()
				start := time.Now()
				e = startEnv(ctx, c.name, c.mode, c.proxy, func(cfg *lab.Config) { cfg.FelixDataplane = c.felix })
				GinkgoWriter.Printf("Calico lab %s ready (lab up %s, with the shop and manager %s)\n",
					c.name, e.upTook.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
				DeferCleanup(func(ctx SpecContext) { e.stop(ctx) })
			}, NodeTimeout(4*time.Minute))

			BeforeEach(func() {
				DeferCleanup(func(ctx SpecContext) { e.expectHealthy(ctx) })
			})

			It("runs felix's own chains and routes", func(ctx SpecContext) {
				n2 := e.node("node-2").Netns
				veth := e.expectFelixChainTo(ctx, "db", "node-2")
				Expect(e.run(ctx, n2, "ip", "route", "show", e.podIP(ctx, "db").String())).To(ContainSubstring("dev "+veth),
					"felix's route to the db pod")
				peer := e.peerRoute(ctx, "node-1", "node-2")
				if c.mode == lab.ModeCalicoRouted {
					Expect(peer).To(ContainSubstring("proto bird"), "BIRD's route to node-2's block")
				} else {
					Expect(peer).To(ContainSubstring("dev vxlan.calico"), "felix's vxlan route to node-2's block")
				}
			}, SpecTimeout(time.Minute))

			for _, h := range []struct {
				name string
				path func(p paths) path
			}{
				{"pod to pod on one node", func(p paths) path { return p.podToPod("web", "api", 8080) }},
				{"pod to pod across nodes", func(p paths) path { return p.podToPod("web", "db", 5432) }},
				{"pod to a ClusterIP service", func(p paths) path { return p.podToService("web", "db", 5432, lab.TCP) }},
				{"NodePort from the external host", func(p paths) path { return p.externalToNodePort("node-2", nodePort) }},
			} {
				It("finds "+h.name+" Reachable and clean", func(ctx SpecContext) {
					e.expectDiagnosis(ctx, h.path(paths{e: e, ctx: ctx}), reachable())
				}, SpecTimeout(2*time.Minute))
			}

			It("names a Calico NetworkPolicy that denies", func(ctx SpecContext) {
				e.calicoObject(ctx, "NetworkPolicy", shopNamespace, "deny-web-to-db", nil, denyWebToDB(100))
				e.expectCalicoDenied(ctx, paths{e: e, ctx: ctx}.podToPod("web", "db", 5432), "node-2",
					"default|shop/default.deny-web-to-db|deny|0")
			}, SpecTimeout(2*time.Minute))

			It("names a GlobalNetworkPolicy that denies", func(ctx SpecContext) {
				e.calicoObject(ctx, "GlobalNetworkPolicy", "", "gnp-deny-web-to-db", nil, denyWebToDB(50))
				e.expectCalicoDenied(ctx, paths{e: e, ctx: ctx}.podToPod("web", "db", 5432), "node-2",
					"default|default.gnp-deny-web-to-db|deny|0")
			}, SpecTimeout(2*time.Minute))

			It("follows a Pass to the next tier, whose policy denies", func(ctx SpecContext) {
				e.calicoObject(ctx, "Tier", "", "security", nil, map[string]any{"order": 100})
				e.calicoObject(ctx, "GlobalNetworkPolicy", "", "security.pass-db", nil, map[string]any{
					"tier": "security", "order": 10, "selector": "app == 'db'", "types": []any{"Ingress"},
					"ingress": []any{map[string]any{"action": "Pass"}},
				})
				e.calicoObject(ctx, "NetworkPolicy", shopNamespace, "deny-after-pass", nil, denyWebToDB(100))
				e.expectCalicoDenied(ctx, paths{e: e, ctx: ctx}.podToPod("web", "db", 5432), "node-2",
					"default|shop/default.deny-after-pass|deny|0")
			}, SpecTimeout(2*time.Minute))

			// The drop (in felix's mangle chains, before kube-proxy's DNAT) is found by the
			// service stage, which hands it to Calico's policy model for its name.
			It("names a preDNAT HostEndpoint policy that denies a NodePort", func(ctx SpecContext) {
				e.calicoObject(ctx, "GlobalNetworkPolicy", "", "hep-deny-nodeport", nil, map[string]any{
					"tier": "default", "order": 10, "selector": "hep == 'node-2'", "types": []any{"Ingress"},
					"preDNAT": true, "applyOnForward": true,
					"ingress": []any{map[string]any{"action": "Deny", "protocol": "TCP",
						"destination": map[string]any{"ports": []any{nodePort}}}},
				})
				e.hostEndpoint(ctx, "node-2")
				e.expectCalicoDenied(ctx, paths{e: e, ctx: ctx}.externalToNodePort("node-2", nodePort), "node-2",
					"default|default.hep-deny-nodeport|deny|0")
			}, SpecTimeout(2*time.Minute))

			It("names a HostEndpoint policy that denies traffic to the node itself", func(ctx SpecContext) {
				n2, ext := e.node("node-2"), e.lab.External()
				e.calicoObject(ctx, "GlobalNetworkPolicy", "", "hep-deny-healthz", nil, map[string]any{
					"tier": "default", "order": 10, "selector": "hep == 'node-2'", "types": []any{"Ingress"},
					"ingress": []any{map[string]any{"action": "Deny", "protocol": "TCP",
						"destination": map[string]any{"ports": []any{kubeProxyHealthzPort}}}},
				})
				e.hostEndpoint(ctx, "node-2")
				// kube-proxy's health server listens on the node; it answers no echo, so the probe
				// only connects.
				p := path{
					nd: MakeDiagnosis(uniqueName("ext-to-node-2-healthz")).FromIP(ext.IP).ToIP(n2.IP, kubeProxyHealthzPort).Obj(),
					probe: lab.ProbeSpec{From: ext.Netns, To: netip.AddrPortFrom(n2.IP, kubeProxyHealthzPort),
						Protocol: lab.TCP, Payload: -1},
				}
				e.expectCalicoDenied(ctx, p, "node-2", "default|default.hep-deny-healthz|deny|0")
			}, SpecTimeout(2*time.Minute))

			It("warns that a policy created while felix was stopped is not programmed", func(ctx SpecContext) {
				Expect(e.lab.StopFelix("node-2")).To(Succeed())
				DeferCleanup(func(ctx SpecContext) {
					Expect(e.lab.StartFelix(ctx, "node-2")).To(Succeed(), "start felix on node-2 again")
				})
				e.calicoObject(ctx, "NetworkPolicy", shopNamespace, "deny-while-stopped", nil, denyWebToDB(100))
				p := paths{e: e, ctx: ctx}.podToPod("web", "db", 5432)
				// Long enough for a running felix to have programmed the policy.
				time.Sleep(3 * time.Second)
				w := reachable()
				w.reason, w.node = model.ReasonCalicoPolicyNotProgrammed, "node-2"
				nd := e.expectDiagnosis(ctx, p, w)
				Expect(nd.Status.Suspicions).To(ContainElement(And(
					HaveField("Reason", string(model.ReasonCalicoPolicyNotProgrammed)),
					HaveField("Message", ContainSubstring("deny-while-stopped")))), "the policy felix has not programmed is named")
			}, SpecTimeout(2*time.Minute))
		})
	}
})

// kubeProxyHealthzPort is where kube-proxy's health server listens on every node.
const kubeProxyHealthzPort = 10256

// denyWebToDB is the spec of a default-tier policy (namespaced or global) selecting the db
// pod whose one ingress rule denies TCP from the web pod.
func denyWebToDB(order int) map[string]any {
	return map[string]any{
		"tier": "default", "order": order, "selector": "app == 'db'", "types": []any{"Ingress"},
		"ingress": []any{map[string]any{"action": "Deny", "protocol": "TCP", "source": map[string]any{"selector": "app == 'web'"}}},
	}
}

// calicoObject creates a crd.projectcalico.org/v1 object (how projectcalico.org/v3 objects
// are stored without Calico's API server) and deletes it when the spec ends.
func (e *env) calicoObject(ctx context.Context, kind, namespace, name string, labels map[string]string, spec map[string]any) {
	GinkgoHelper()
	obj := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	obj.SetAPIVersion("crd.projectcalico.org/v1")
	obj.SetKind(kind)
	obj.SetNamespace(namespace)
	obj.SetName(name)
	obj.SetLabels(labels)
	By("creating Calico " + kind + " " + name)
	Expect(e.client.Create(ctx, obj)).To(Succeed(), "create %s %s", kind, name)
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(e.client.Delete(ctx, obj))).To(Succeed(), "delete %s %s", kind, name)
	})
}

// hostEndpoint makes node's eth0 a Calico host endpoint labelled hep=<node>, with a policy
// allowing everything at the end of the default tier: a host endpoint no normal policy
// selects denies all but the failsafe ports, and the specs deny one thing only.
func (e *env) hostEndpoint(ctx context.Context, node string) {
	GinkgoHelper()
	sel := "hep == '" + node + "'"
	e.calicoObject(ctx, "GlobalNetworkPolicy", "", "hep-allow-rest", nil, map[string]any{
		"tier": "default", "order": 1000, "selector": sel, "types": []any{"Ingress", "Egress"},
		"ingress": []any{map[string]any{"action": "Allow"}}, "egress": []any{map[string]any{"action": "Allow"}},
	})
	e.calicoObject(ctx, "HostEndpoint", "", node+"-eth0", map[string]string{"hep": node}, map[string]any{
		"node": node, "interfaceName": "eth0", "expectedIPs": []any{e.node(node).IP.String()},
	})
}

// expectFelixChainTo waits for felix to program its chain to pod's host veth on node and
// returns that veth: felix writes a pod's chains a moment after the pod starts, and its first
// full ruleset may still be in the making when the shop is up.
func (e *env) expectFelixChainTo(ctx context.Context, pod, node string) string {
	GinkgoHelper()
	veth := e.hostVeth(ctx, pod, node)
	Eventually(func() string { return e.felixRules(ctx, e.node(node).Netns) }).WithTimeout(30*time.Second).
		Should(ContainSubstring("cali-tw-"+veth), "felix's chain to the %s pod", pod)
	return veth
}

// felixRules is what felix programmed in netns, in the lab's felix dataplane.
func (e *env) felixRules(ctx context.Context, netns string) string {
	GinkgoHelper()
	if e.lab.Config().FelixDataplane == lab.FelixNFTables {
		return e.run(ctx, netns, "nft", "list", "ruleset")
	}
	return e.run(ctx, netns, "iptables-save")
}

// expectCalicoDenied checks that real packets are dropped, that netdiag finds the path
// Unreachable with the drop in one of felix's cali- chains on node, and that it names the
// deciding policy as Calico's flow logs do (tier|policy|action|rule).
func (e *env) expectCalicoDenied(ctx context.Context, p path, node, flow string) {
	GinkgoHelper()
	truth := expectTruth(ctx, p, false)
	nd := e.diagnose(ctx, p.nd)
	report := describe(nd, truth)
	Expect(nd.Status.Phase).To(Equal(diagv1alpha1.PhaseSucceeded), report)
	Expect(nd.Status.Verdict).To(Equal(diagv1alpha1.VerdictUnreachable), report)
	critical := func(s diagv1alpha1.Suspicion) bool {
		return s.Node == node && (s.Level == diagv1alpha1.LevelCritical || s.Level == diagv1alpha1.LevelFatal)
	}
	Expect(nd.Status.Suspicions).To(ContainElement(Satisfy(func(s diagv1alpha1.Suspicion) bool {
		drop := s.Reason == string(model.ReasonIPTablesDrop) || s.Reason == string(model.ReasonNFTablesDrop) ||
			s.Reason == string(model.ReasonCalicoPolicyDenied)
		return critical(s) && drop && strings.Contains(s.Rule+" "+s.Message, "cali")
	})), "the drop is found in felix's chains on %s\n%s", node, report)
	Expect(nd.Status.Suspicions).To(ContainElement(Satisfy(func(s diagv1alpha1.Suspicion) bool {
		return critical(s) && s.Reason == string(model.ReasonCalicoPolicyDenied) && strings.Contains(s.Message, flow)
	})), "the deciding policy is named %q\n%s", flow, report)
	again := lab.Probe(ctx, withTimeout(p.probe, time.Second))
	Expect(again.Reachable).To(BeFalse(), "the lab changed while the diagnosis ran: %s, then %s", truth, again)
}
