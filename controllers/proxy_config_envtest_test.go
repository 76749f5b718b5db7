package controllers

import (
	"context"
	"net/netip"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

var _ = Describe("NetworkDiagnosis through a Service on a kube-proxy-free cluster", func() {
	var ns, node, nodeIP string

	// One node, web and the db Service's one endpoint on it, no kube-proxy rules in the node
	// snapshot the collector uploads: what a node looks like where Cilium serves Services.
	BeforeEach(func(ctx SpecContext) {
		ns = newNamespace(ctx)
		node, nodeIP = ns+"-n1", nextIP("192.168.0.0")
		createNode(ctx, MakeNode(node).IP(nodeIP).PodCIDR("10.244.1.0/24"))
		createPod(ctx, MakePod("web", ns).On(node, nextIP("10.244.0.0")))
		db := createPod(ctx, MakePod("db-1", ns).Label("app", "db").On(node, nextIP("10.244.0.0")).ContainerPort(5432))
		createService(ctx, MakeService("db", ns).Port(5432, 5432))
		createEndpointSlice(ctx, MakeEndpointSlice("db", ns).NamedPort(5432).Endpoint(db))
	})

	// routed gives each pod its default route through the node, as a CNI plugin lays it.
	routed := func(snap *netstack.NodeSnapshot) {
		for i := range snap.Pods {
			p := &snap.Pods[i]
			gw := p.Interfaces[0].Addresses[0].Masked().Addr().Next()
			p.Routes = append(p.Routes,
				netstack.Route{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: gw, Device: "eth0"},
				netstack.Route{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: p.Interfaces[0].Addresses[0].Masked(), Device: "eth0", Scope: "link"})
		}
	}

	diagnoseWebToDB := func(ctx context.Context, name string) *diagv1alpha1.NetworkDiagnosis {
		GinkgoHelper()
		nd := createDiagnosis(ctx, MakeDiagnosis(name, ns).FromPod("web").ToService("db", 5432))
		for _, pod := range waitForCollectors(ctx, nd, node) {
			collectEdited(ctx, pod, nodeIP, nil, routed)
		}
		return waitForPhase(ctx, nd, diagv1alpha1.PhaseSucceeded)
	}

	It("leaves the service part Unknown, naming Cilium, when kube-system/cilium-config says it replaces kube-proxy", func(ctx SpecContext) {
		// The Helm chart's way: the setting only in the ConfigMap, no flag on the agent.
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: "cilium-config"},
			Data:       map[string]string{"kube-proxy-replacement": "true", "routing-mode": "tunnel", "cluster-pool-ipv4-cidr": "10.0.0.0/8"},
		}
		Expect(k8sClient.Create(ctx, cm)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, cm))).To(Succeed())
		})

		got := diagnoseWebToDB(ctx, "kpr")
		Expect(got.Status.Verdict).To(Equal(diagv1alpha1.VerdictUnknown), "summary: %s", got.Status.Summary)
		Expect(got.Status.Suspicions).NotTo(ContainElement(HaveField("Reason", string(model.ReasonServiceRulesMissing))))
		Expect(got.Status.Suspicions).NotTo(ContainElement(HaveField("Level", BeElementOf(diagv1alpha1.LevelCritical, diagv1alpha1.LevelFatal))))
		Expect(got.Status.Suspicions).To(ContainElement(And(
			HaveField("Reason", string(model.ReasonServiceProxyReplaced)),
			HaveField("Message", And(
				ContainSubstring("Cilium's kube-proxy replacement"),
				ContainSubstring("ConfigMap kube-system/cilium-config kube-proxy-replacement=true"),
				ContainSubstring("probe: true"))),
		)))
	})

	It("keeps the missing kube-proxy rules as the finding without the ConfigMap", func(ctx SpecContext) {
		got := diagnoseWebToDB(ctx, "no-kpr")
		Expect(got.Status.Verdict).To(Equal(diagv1alpha1.VerdictUnreachable), "summary: %s", got.Status.Summary)
		Expect(got.Status.Suspicions).To(ContainElement(And(
			HaveField("Reason", string(model.ReasonServiceRulesMissing)),
			HaveField("Level", diagv1alpha1.LevelCritical),
		)))
		Expect(got.Status.Suspicions).NotTo(ContainElement(HaveField("Reason", string(model.ReasonServiceProxyReplaced))))
	})

	It("reads the ConfigMap only from the system namespaces, not a tenant's of the same name", func(ctx SpecContext) {
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cilium-config"},
			Data:       map[string]string{"kube-proxy-replacement": "true"},
		}
		Expect(k8sClient.Create(ctx, cm)).To(Succeed())
		got := diagnoseWebToDB(ctx, "tenant-kpr")
		Expect(got.Status.Suspicions).To(ContainElement(HaveField("Reason", string(model.ReasonServiceRulesMissing))))
		Expect(got.Status.Suspicions).NotTo(ContainElement(HaveField("Reason", string(model.ReasonServiceProxyReplaced))))
	})
})
