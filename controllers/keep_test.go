package controllers

import (
	"context"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/bundle"
	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/transport"
)

var _ = Describe("NetworkDiagnosis with keepSnapshots", func() {
	It("keeps what the engine read past the cleanup, as a bundle netdiag bundle writes and that diagnoses to the same answer, until its TTL", func(ctx SpecContext) {
		nd, got, snaps := keptDiagnosis(ctx)
		ns := nd.Namespace

		By("the cleanup deletes the collectors and their snapshots, not the bundle")
		children := func(g Gomega, component string) []corev1.ConfigMap {
			cms := &corev1.ConfigMapList{}
			g.Expect(k8sClient.List(ctx, cms, client.InNamespace(controllerNamespace),
				client.MatchingLabels{transport.LabelDiagnosis: string(nd.UID), transport.LabelComponent: component})).To(Succeed())
			return cms.Items
		}
		Eventually(func(g Gomega) {
			reapTerminating(ctx, g)
			pods := &corev1.PodList{}
			g.Expect(k8sClient.List(ctx, pods, client.InNamespace(controllerNamespace),
				client.MatchingLabels{transport.LabelDiagnosis: string(nd.UID)})).To(Succeed())
			g.Expect(pods.Items).To(BeEmpty(), "collector pods left")
			g.Expect(children(g, transport.ComponentSnapshot)).To(BeEmpty(), "snapshot ConfigMaps left")
		}).Should(Succeed())
		Consistently(func(g Gomega) []corev1.ConfigMap { return children(g, bundle.ComponentBundle) }, "1s").ShouldNot(BeEmpty())

		By("netdiag bundle writes it, and it diagnoses to the controller's answer")
		path := filepath.Join(GinkgoT().TempDir(), "kept.tar.gz")
		q, err := bundle.Export(ctx, k8sClient, client.ObjectKeyFromObject(nd), controllerNamespace, bundle.ExportOptions{Path: path})
		Expect(err).NotTo(HaveOccurred())
		Expect(q.Source).To(Equal("pod:" + ns + "/web"))
		b, err := bundle.Read(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(b.Nodes).To(HaveLen(2))
		Expect(b.Cluster.Pod(ns, "unrelated")).To(BeNil(), "the bundle holds a pod the diagnosis did not read")
		in, err := b.Input()
		Expect(err).NotTo(HaveOccurred())
		res, err := diagnose.Diagnose(in)
		Expect(err).NotTo(HaveOccurred())
		expectEngineAnswer(got, res)
		expectEngineAnswer(got, expectedResult(ctx, nd, snaps))

		By("the bundle goes with the diagnosis at its TTL")
		fakeClock.Step(301 * time.Second)
		poke(ctx, nd)
		Eventually(func() bool {
			err := k8sClient.Get(ctx, client.ObjectKeyFromObject(nd), &diagv1alpha1.NetworkDiagnosis{})
			return client.IgnoreNotFound(err) == nil && err != nil
		}).Should(BeTrue())
		expectNoChildren(ctx, nd)
	})

	It("deletes the bundle of a diagnosis deleted while no controller ran, when one starts", func(ctx SpecContext) {
		nd, _, _ := keptDiagnosis(ctx)
		stopManager()
		Expect(k8sClient.Delete(ctx, nd)).To(Succeed())
		stopManager = startManager()
		expectNoChildren(ctx, nd)
	})
})

// keptDiagnosis runs a diagnosis with keepSnapshots and a TTL of 300s to its end: web on
// one node to the db Service backed on the other, beside a pod it has no reason to read.
func keptDiagnosis(ctx context.Context) (nd, got *diagv1alpha1.NetworkDiagnosis, snaps map[string]*netstack.NodeSnapshot) {
	GinkgoHelper()
	ns := newNamespace(ctx)
	node1, node2 := ns+"-n1", ns+"-n2"
	ips := map[string]string{node1: nextIP("192.168.0.0"), node2: nextIP("192.168.0.0")}
	createNode(ctx, MakeNode(node1).IP(ips[node1]).PodCIDR("10.244.1.0/24"))
	createNode(ctx, MakeNode(node2).IP(ips[node2]).PodCIDR("10.244.2.0/24"))
	createPod(ctx, MakePod("web", ns).On(node1, nextIP("10.244.0.0")))
	db := createPod(ctx, MakePod("db-1", ns).Label("app", "db").On(node2, nextIP("10.244.0.0")).ContainerPort(5432))
	createService(ctx, MakeService("db", ns).Port(5432, 5432))
	createEndpointSlice(ctx, MakeEndpointSlice("db", ns).Port(5432).Endpoint(db))
	// Another pod the diagnosis has no reason to read.
	createPod(ctx, MakePod("unrelated", ns).On(node2, nextIP("10.244.0.0")))

	w := MakeDiagnosis("kept", ns).FromPod("web").ToService("db", 5432).TTL(300)
	w.Spec.KeepSnapshots = ptr.To(true)
	nd = createDiagnosis(ctx, w)
	snaps = map[string]*netstack.NodeSnapshot{}
	for node, pod := range waitForCollectors(ctx, nd, node1, node2) {
		snaps[node] = collect(ctx, pod, ips[node])
	}
	got = waitForPhase(ctx, nd, diagv1alpha1.PhaseSucceeded)
	Expect(meta.IsStatusConditionTrue(got.Status.Conditions, diagv1alpha1.ConditionSnapshotsKept)).To(BeTrue(), "conditions %+v", got.Status.Conditions)
	return nd, got, snaps
}
