package admission

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
)

// The refusals' words, as the policy says them.
const (
	needsNodes = "needs the cluster-scoped create on networkdiagnoses/nodes"
	nodesGrant = "ClusterRole netdiag-nodes grants through a ClusterRoleBinding"
	needsProbe = "needs create on networkdiagnoses/probe (group diagnosis.netdiag.dev) in namespace " + tenantNS
	probeGrant = "ClusterRole netdiag-probe grants when bound there"
	viewGrant  = "the built-in view ClusterRole grants when bound there"
)

var _ = Describe("What a diagnosis may name", func() {
	DescribeTable("on create, from its creator's own RBAC",
		func(ctx SpecContext, user string, b *diagnosisBuilder, refused []string) {
			err := as(user).Create(ctx, b.obj())
			if refused == nil {
				Expect(err).NotTo(HaveOccurred())
				return
			}
			Expect(err).To(refusal(append(refused, "user "+user+" may not")...))
		},
		Entry("a pod and a service of the creator's namespace", tenant,
			diagnosis("own", tenantNS).fromPod("", "web").toService("", "db", 5432), nil),
		Entry("the same namespace, spelled out", tenant,
			diagnosis("own-spelled", tenantNS).fromPod(tenantNS, "web").toPod(tenantNS, "db", 5432), nil),
		Entry("refused: a source pod the creator may not get, even in its own namespace", editorOnly,
			diagnosis("no-get", tenantNS).fromPod("", "web").toIP("10.0.0.1", 80),
			[]string{"may not name pod " + tenantNS + "/web as the source", "needs get on pods in namespace " + tenantNS, viewGrant}),
		Entry("refused: a destination pod of another namespace", tenant,
			diagnosis("other-pod", tenantNS).fromPod("", "web").toPod(otherNS, "db", 5432),
			[]string{"may not name pod " + otherNS + "/db as the destination", "needs get on pods in namespace " + otherNS, viewGrant}),
		Entry("a destination pod of another namespace the creator reads", crossReader,
			diagnosis("other-pod", tenantNS).fromPod("", "web").toPod(otherNS, "db", 5432), nil),
		Entry("refused: a source pod of another namespace", tenant,
			diagnosis("other-src", tenantNS).fromPod(otherNS, "web").toPod("", "db", 5432),
			[]string{"may not name pod " + otherNS + "/web as the source", "needs get on pods in namespace " + otherNS}),
		Entry("refused: a service of another namespace", tenant,
			diagnosis("other-svc", tenantNS).fromPod("", "web").toService(otherNS, "db", 5432),
			[]string{"may not name service " + otherNS + "/db as the destination", "needs get on services in namespace " + otherNS, viewGrant}),
		Entry("a service of another namespace the creator reads", crossReader,
			diagnosis("other-svc", tenantNS).fromPod("", "web").toService(otherNS, "db", 5432), nil),

		Entry("refused: a node source", tenant,
			diagnosis("node-src", tenantNS).fromNode("node-1").toPod("", "db", 5432), []string{needsNodes, nodesGrant}),
		Entry("refused: a node destination", tenant,
			diagnosis("node-dst", tenantNS).fromPod("", "web").toNode("node-1", 10250), []string{needsNodes, nodesGrant}),
		Entry("refused: an ip source", tenant,
			diagnosis("ip-src", tenantNS).fromIP("203.0.113.7").toService("", "web", 80), []string{needsNodes, nodesGrant}),
		Entry("refused: an ip destination", tenant,
			diagnosis("ip-dst", tenantNS).fromPod("", "web").toIP("10.96.0.1", 443), []string{needsNodes, nodesGrant}),
		Entry("refused: a node, to a namespace admin", nsAdmin,
			diagnosis("admin-node", tenantNS).fromPod("", "web").toNode("node-1", 10250), []string{needsNodes, nodesGrant}),
		Entry("refused: a probe, to a namespace admin", nsAdmin,
			diagnosis("admin-probe", tenantNS).fromPod("", "web").toService("", "db", 5432).probe(), []string{needsProbe, probeGrant}),
		Entry("a pod and a service, to a namespace admin", nsAdmin,
			diagnosis("admin-own", tenantNS).fromPod("", "web").toService("", "db", 5432), nil),
		Entry("refused: a node, to a holder of netdiag-nodes bound in the namespace only", nodeLocal,
			diagnosis("node-local", tenantNS).fromNode("node-1").toIP("10.0.0.1", 2379), []string{needsNodes, nodesGrant}),
		Entry("a node and an ip, to a holder of netdiag-nodes bound cluster-wide", nodeViewer,
			diagnosis("node-cluster", tenantNS).fromNode("node-1").toIP("10.0.0.1", 2379), nil),

		Entry("refused: a probe", tenant,
			diagnosis("probe", tenantNS).fromPod("", "web").toPod("", "db", 5432).probe(), []string{needsProbe, probeGrant}),
		Entry("refused: a probe, to a holder of netdiag-probe in another namespace", proberElsewhere,
			diagnosis("probe-elsewhere", tenantNS).fromPod("", "web").toPod("", "db", 5432).probe(), []string{needsProbe, probeGrant}),
		Entry("a probe, to a holder of netdiag-probe in the namespace", prober,
			diagnosis("probe", tenantNS).fromPod("", "web").toPod("", "db", 5432).probe(), nil),
		Entry("refused: a probe to a node, to a holder of netdiag-probe alone", prober,
			diagnosis("probe-node", tenantNS).fromPod("", "web").toNode("node-1", 22).probe(), []string{needsNodes}),

		Entry("a cluster admin names anything", clusterRoot,
			diagnosis("root", tenantNS).fromNode("node-1").toPod(otherNS, "db", 5432).probe(), nil),
	)

	It("judges an update that changes the spec as a create", func(ctx SpecContext) {
		nd := diagnosis("edited", tenantNS).fromPod("", "web").toPod("", "db", 5432).obj()
		Expect(as(tenant).Create(ctx, nd)).To(Succeed())

		edit := func(user string, change func(*diagv1alpha1.NetworkDiagnosisSpec)) error {
			GinkgoHelper()
			got := &diagv1alpha1.NetworkDiagnosis{}
			Expect(admin.Get(ctx, client.ObjectKeyFromObject(nd), got)).To(Succeed())
			change(&got.Spec)
			return as(user).Update(ctx, got)
		}
		By("naming another namespace's pod")
		Expect(edit(tenant, func(s *diagv1alpha1.NetworkDiagnosisSpec) { s.Destination.Pod.Namespace = otherNS })).
			To(refusal("user "+tenant+" may not name pod "+otherNS+"/db", "needs get on pods in namespace "+otherNS))
		By("naming a node")
		Expect(edit(tenant, func(s *diagv1alpha1.NetworkDiagnosisSpec) {
			s.Destination = diagv1alpha1.Destination{Node: &diagv1alpha1.NodeReference{Name: "node-1"}}
		})).To(refusal(needsNodes))
		By("asking for a probe")
		Expect(edit(tenant, func(s *diagv1alpha1.NetworkDiagnosisSpec) { s.Probe = true })).To(refusal(needsProbe))
		By("changing what names nothing new")
		Expect(edit(tenant, func(s *diagv1alpha1.NetworkDiagnosisSpec) { s.Timeout = &metav1.Duration{Duration: time.Minute} })).To(Succeed())
		By("asking for a probe with the right to")
		Expect(edit(prober, func(s *diagv1alpha1.NetworkDiagnosisSpec) { s.Probe = true })).To(Succeed())
	})

	It("lets every write that leaves the spec alone pass: labels, the finalizer, the status", func(ctx SpecContext) {
		// A cluster admin's diagnosis names what the tenant and the controller may not.
		nd := diagnosis("admins", tenantNS).fromNode("node-1").toIP("10.0.0.1", 2379).probe().obj()
		Expect(as(clusterRoot).Create(ctx, nd)).To(Succeed())

		By("the tenant, who holds neither netdiag-nodes nor netdiag-probe")
		patch := client.MergeFrom(nd.DeepCopy())
		nd.Labels = map[string]string{"team": "a"}
		Expect(as(tenant).Patch(ctx, nd, patch)).To(Succeed())
		before := nd.DeepCopy()
		nd.Spec.Timeout = &metav1.Duration{Duration: time.Minute}
		Expect(as(tenant).Patch(ctx, nd, client.MergeFrom(before))).To(refusal("user "+tenant+" may not", needsNodes))

		By("the controller, with the roles config/rbac gives it")
		manager := as(managerSA)
		Expect(admin.Get(ctx, client.ObjectKeyFromObject(nd), nd)).To(Succeed())
		patch = client.MergeFrom(nd.DeepCopy())
		nd.Finalizers = append(nd.Finalizers, "diagnosis.netdiag.dev/cleanup")
		Expect(manager.Patch(ctx, nd, patch)).To(Succeed())
		patch = client.MergeFrom(nd.DeepCopy())
		nd.Status.Phase = diagv1alpha1.PhaseCollecting
		Expect(manager.Status().Patch(ctx, nd, patch)).To(Succeed())
		patch = client.MergeFrom(nd.DeepCopy())
		nd.Finalizers = nil
		Expect(manager.Patch(ctx, nd, patch)).To(Succeed())

		got := &diagv1alpha1.NetworkDiagnosis{}
		Expect(admin.Get(ctx, client.ObjectKeyFromObject(nd), got)).To(Succeed())
		Expect(got.Status.Phase).To(Equal(diagv1alpha1.PhaseCollecting))
		Expect(got.Spec.Timeout.Duration).NotTo(Equal(time.Minute), "the refused spec change is not stored")
	})
})
