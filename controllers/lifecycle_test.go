package controllers

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/netstack"
)

// These specs count every diagnosis in the cluster (the caps do), so each starts from a
// cluster without any; some run the controller as other manager flags would.
var _ = Describe("NetworkDiagnosis load and lifecycle", func() {
	var (
		ns, ns2          string
		node1, node2     string
		node1IP, node2IP string
		reconfigured     bool
	)

	restart := func(configure ...func(*NetworkDiagnosisReconciler)) {
		stopManager()
		stopManager = startManager(configure...)
		reconfigured = true
	}

	BeforeEach(func(ctx SpecContext) {
		deleteAllDiagnoses(ctx)
		ns, ns2 = newNamespace(ctx), newNamespace(ctx)
		node1, node2 = ns+"-n1", ns+"-n2"
		node1IP, node2IP = nextIP("192.168.0.0"), nextIP("192.168.0.0")
		createNode(ctx, MakeNode(node1).IP(node1IP).PodCIDR("10.244.1.0/24").Ready(corev1.ConditionTrue))
		createNode(ctx, MakeNode(node2).IP(node2IP).PodCIDR("10.244.2.0/24").Ready(corev1.ConditionTrue))
		for _, n := range []string{ns, ns2} {
			createPod(ctx, MakePod("web", n).On(node1, nextIP("10.244.0.0")))
			db1 := createPod(ctx, MakePod("db-1", n).Label("app", "db").On(node1, nextIP("10.244.0.0")).ContainerPort(5432))
			db2 := createPod(ctx, MakePod("db-2", n).Label("app", "db").On(node2, nextIP("10.244.0.0")).ContainerPort(5432))
			createService(ctx, MakeService("db", n).Port(5432, 5432))
			createEndpointSlice(ctx, MakeEndpointSlice("db", n).Port(5432).Endpoint(db1).Endpoint(db2))
		}
	})

	AfterEach(func() {
		if reconfigured {
			stopManager()
			stopManager = startManager()
			reconfigured = false
		}
	})

	// toDB1 runs one collector, on node1; toDB runs two.
	toDB1 := func(ctx SpecContext, name, namespace string) *diagv1alpha1.NetworkDiagnosis {
		return createDiagnosis(ctx, MakeDiagnosis(name, namespace).FromPod("web").ToPod("db-1", 5432))
	}
	toDB := func(ctx SpecContext, name, namespace string) *diagv1alpha1.NetworkDiagnosis {
		return createDiagnosis(ctx, MakeDiagnosis(name, namespace).FromPod("web").ToService("db", 5432))
	}

	It("simulates the plugin of the system namespaces' DaemonSets, whatever a tenant's DaemonSet is named", func(ctx SpecContext) {
		tenant := newNamespace(ctx)
		err := k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-flannel"}})
		Expect(client.IgnoreAlreadyExists(err)).To(Succeed())
		for _, ds := range []*appsv1.DaemonSet{
			daemonSet(tenant, "canal-lookalike", "docker.io/calico/node:v3.29.0", "quay.io/coreos/flannel:v0.15.1"),
			daemonSet("kube-flannel", "kube-flannel-ds", "ghcr.io/flannel-io/flannel:v0.27.4"),
		} {
			Expect(k8sClient.Create(ctx, ds)).To(Succeed())
			DeferCleanup(func(ctx SpecContext) { Expect(k8sClient.Delete(ctx, ds)).To(Succeed()) })
		}
		nd := toDB1(ctx, "detected", ns)
		pods := waitForCollectors(ctx, nd, node1)
		collect(ctx, pods[node1], node1IP)
		got := waitForPhase(ctx, nd, diagv1alpha1.PhaseSucceeded)
		cond := meta.FindStatusCondition(got.Status.Conditions, diagv1alpha1.ConditionDiagnosed)
		Expect(cond.Message).To(Equal("Network plugin flannel"), "a tenant's canal look-alike does not make the cluster canal")

		By("the controller's cache holding no tenant's DaemonSet")
		opts := CacheOptions(controllerNamespace)
		opts.Scheme = scheme
		c, err := cache.New(cfg, opts)
		Expect(err).NotTo(HaveOccurred())
		cacheCtx, stop := context.WithCancel(ctx)
		defer stop()
		go func() { _ = c.Start(cacheCtx) }()
		Expect(c.WaitForCacheSync(ctx)).To(BeTrue())
		dss := &appsv1.DaemonSetList{}
		Expect(c.List(ctx, dss)).To(Succeed())
		Expect(dss.Items).To(ContainElement(HaveField("Name", "kube-flannel-ds")))
		Expect(dss.Items).NotTo(ContainElement(HaveField("Namespace", tenant)))
	})

	It("holds a diagnosis over a namespace's or the cluster's cap in Pending, saying which and how many wait ahead, and starts it when one finishes", func(ctx SpecContext) {
		restart(func(r *NetworkDiagnosisReconciler) { r.Caps = &LoadCaps{PerNamespace: 2, InFlight: 3} })
		a := toDB1(ctx, "a", ns)
		podsA := waitForCollectors(ctx, a, node1)
		waitForPhase(ctx, a, diagv1alpha1.PhaseCollecting)
		b := toDB1(ctx, "b", ns)
		waitForCollectors(ctx, b, node1)

		By("the third of the namespace waiting")
		c := toDB1(ctx, "c", ns)
		waitToStart(ctx, c, diagv1alpha1.ReasonNamespaceCapReached,
			"2 diagnoses of namespace "+ns+" are in flight", "--max-diagnoses-per-namespace=2", "0 wait ahead")
		d := toDB1(ctx, "d", ns)
		waitToStart(ctx, d, diagv1alpha1.ReasonNamespaceCapReached, "1 waits ahead")

		By("another namespace starting until the cluster is full")
		// A later second: the queue orders by creation, and these come after c and d.
		time.Sleep(1100 * time.Millisecond)
		e := toDB1(ctx, "e", ns2)
		waitForCollectors(ctx, e, node1)
		f := toDB1(ctx, "f", ns2)
		waitToStart(ctx, f, diagv1alpha1.ReasonInFlightCapReached, "3 diagnoses are in flight in the cluster", "--max-diagnoses=3")
		Consistently(func(g Gomega) {
			for _, nd := range []*diagv1alpha1.NetworkDiagnosis{c, d, f} {
				g.Expect(collectorPods(ctx, g, nd)).To(BeEmpty(), "%s started", nd.Name)
				g.Expect(getDiagnosis(ctx, g, nd).Status.Phase).To(Equal(diagv1alpha1.PhasePending))
			}
		}).Should(Succeed())

		By("one finishing: the oldest waiting starts, the others move up")
		collect(ctx, podsA[node1], node1IP)
		waitForPhase(ctx, a, diagv1alpha1.PhaseSucceeded)
		waitForCollectors(ctx, c, node1)
		got := waitForPhase(ctx, c, diagv1alpha1.PhaseCollecting)
		Expect(meta.IsStatusConditionTrue(got.Status.Conditions, diagv1alpha1.ConditionAdmitted)).To(BeTrue())
		waitToStart(ctx, d, diagv1alpha1.ReasonNamespaceCapReached, "0 wait ahead")
		waitToStart(ctx, f, diagv1alpha1.ReasonInFlightCapReached, "0 wait ahead")
		Eventually(func(g Gomega) []string { return eventReasons(ctx, g, c) }).Should(ContainElement(diagv1alpha1.ReasonNamespaceCapReached))

		By("one waiting past its timeout")
		late := createDiagnosis(ctx, MakeDiagnosis("late", ns).FromPod("web").ToPod("db-1", 5432).Timeout(metav1.Duration{Duration: 10 * time.Second}))
		waitToStart(ctx, late, diagv1alpha1.ReasonNamespaceCapReached, "1 waits ahead")
		fakeClock.Step(11 * time.Second)
		poke(ctx, late)
		waitToFail(ctx, late, diagv1alpha1.ConditionAdmitted, diagv1alpha1.ReasonTimeout, "Did not start within 10s", "--max-diagnoses-per-namespace=2")
	})

	It("holds a diagnosis whose collectors would pass the pod cap, and fails one that needs more than the cap", func(ctx SpecContext) {
		restart(func(r *NetworkDiagnosisReconciler) { r.Caps = &LoadCaps{CollectorPods: 2} })
		a := toDB1(ctx, "a", ns)
		podsA := waitForCollectors(ctx, a, node1)
		b := toDB(ctx, "b", ns)
		waitToStart(ctx, b, diagv1alpha1.ReasonCollectorPodCapReached, "1 collector pods are at work", "needs 2 more", "--max-collector-pods=2")
		c := toDB1(ctx, "c", ns)
		waitToStart(ctx, c, diagv1alpha1.ReasonCollectorPodCapReached, "1 waits ahead")

		collect(ctx, podsA[node1], node1IP)
		waitForCollectors(ctx, b, node1, node2)
		waitToStart(ctx, c, diagv1alpha1.ReasonCollectorPodCapReached, "0 wait ahead")

		By("a path that needs more collectors than the cap")
		restart(func(r *NetworkDiagnosisReconciler) { r.Caps = &LoadCaps{CollectorPods: 1} })
		big := toDB(ctx, "big", ns2)
		waitToFail(ctx, big, diagv1alpha1.ConditionAdmitted, diagv1alpha1.ReasonCollectorPodCapReached,
			"needs 2 collector pods, more than --max-collector-pods=1")
		Expect(collectorPods(ctx, Default, big)).To(BeEmpty())
	})

	It("refuses a path through a control-plane node at once, naming the node and the flag, unless the manager allows it", func(ctx SpecContext) {
		cp := ns + "-cp"
		createNode(ctx, MakeNode(cp).IP(nextIP("192.168.0.0")).PodCIDR("10.244.3.0/24").
			Label("node-role.kubernetes.io/control-plane", "").Taint("node-role.kubernetes.io/control-plane").Ready(corev1.ConditionTrue))
		createPod(ctx, MakePod("api", ns).On(cp, nextIP("10.244.0.0")).ContainerPort(443))
		nd := createDiagnosis(ctx, MakeDiagnosis("to-cp", ns).FromPod("web").ToPod("api", 443))
		waitToFail(ctx, nd, diagv1alpha1.ConditionAdmitted, diagv1alpha1.ReasonControlPlaneNode,
			"control-plane node "+cp, "--collector-tolerate-control-plane")
		Consistently(func(g Gomega) { g.Expect(collectorPods(ctx, g, nd)).To(BeEmpty()) }, "1s").Should(Succeed())

		By("a manager that lets collectors on control-plane nodes")
		restart(func(r *NetworkDiagnosisReconciler) { r.TolerateControlPlane = true })
		allowed := createDiagnosis(ctx, MakeDiagnosis("to-cp-allowed", ns).FromPod("web").ToPod("api", 443))
		pods := waitForCollectors(ctx, allowed, node1, cp)
		Expect(pods[cp].Spec.Tolerations).To(ContainElement(corev1.Toleration{
			Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}))
	})

	It("says in the collector's status why its pod cannot be created, here a PriorityClass the cluster lacks", func(ctx SpecContext) {
		restart(func(r *NetworkDiagnosisReconciler) { r.CollectorPriorityClass = "no-such-class" })
		nd := toDB1(ctx, "no-class", ns)
		Eventually(func(g Gomega) {
			g.Expect(getDiagnosis(ctx, g, nd).Status.Collectors).To(ConsistOf(And(
				HaveField("Phase", diagv1alpha1.CollectorPending),
				HaveField("Message", And(HavePrefix("Collector pod cannot be created: "), ContainSubstring("no-such-class"))))))
		}).Should(Succeed())
	})

	It("gives a node up at once when it is NotReady or deleted, instead of waiting for the timeout", func(ctx SpecContext) {
		nd := toDB(ctx, "not-ready", ns)
		pods := waitForCollectors(ctx, nd, node1, node2)

		By("node2 turning NotReady mid-run")
		setNodeReady(ctx, node2, corev1.ConditionUnknown)
		Eventually(func(g Gomega) {
			g.Expect(getDiagnosis(ctx, g, nd).Status.Collectors).To(ContainElement(And(
				HaveField("Node", node2), HaveField("Phase", diagv1alpha1.CollectorFailed), HaveField("Reason", diagv1alpha1.ReasonNodeNotReady),
				HaveField("Message", ContainSubstring("Node "+node2+" is not Ready (Unknown")))))
		}).Should(Succeed())
		snaps := map[string]*netstack.NodeSnapshot{node1: collect(ctx, pods[node1], node1IP)}
		got := waitForPhase(ctx, nd, diagv1alpha1.PhaseSucceeded)
		expectEngineAnswer(got, expectedResult(ctx, nd, snaps))
		Expect(got.Status.Summary).To(ContainSubstring("partial: not collected from " + node2))
		cond := meta.FindStatusCondition(got.Status.Conditions, diagv1alpha1.ConditionCollected)
		Expect(cond.Reason).To(Equal(diagv1alpha1.ReasonNodeNotReady))

		By("a diagnosis starting while node2 is NotReady")
		later := toDB(ctx, "later", ns)
		waitForCollectors(ctx, later, node1)
		Eventually(func(g Gomega) {
			g.Expect(getDiagnosis(ctx, g, later).Status.Collectors).To(ContainElement(And(
				HaveField("Node", node2), HaveField("Reason", diagv1alpha1.ReasonNodeNotReady))))
		}).Should(Succeed())
		Consistently(func(g Gomega) { g.Expect(collectorPods(ctx, g, later)).NotTo(HaveKey(node2)) }, "1s").Should(Succeed())

		By("node1 deleted")
		Expect(k8sClient.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node1}})).To(Succeed())
		got = waitForPhase(ctx, later, diagv1alpha1.PhaseFailed)
		Expect(got.Status.Collectors).To(ContainElement(And(
			HaveField("Node", node1), HaveField("Reason", diagv1alpha1.ReasonNodeGone),
			HaveField("Message", ContainSubstring("Node "+node1+" is gone")))))
		cond = meta.FindStatusCondition(got.Status.Conditions, diagv1alpha1.ConditionCollected)
		Expect(cond.Reason).To(BeElementOf(diagv1alpha1.ReasonNodeGone, diagv1alpha1.ReasonNodeNotReady))
		Expect(cond.Message).To(ContainSubstring("node " + node1 + ": Node " + node1 + " is gone"))
		expectNoChildren(ctx, later)
	})

	It("removes the finalizer an earlier version left once a finished diagnosis's children are gone, and adds none", func(ctx SpecContext) {
		legacy := MakeDiagnosis("legacy", ns).FromPod("web").ToPod("db-1", 5432).Obj()
		legacy.Finalizers = []string{Finalizer}
		Expect(k8sClient.Create(ctx, legacy)).To(Succeed())
		pods := waitForCollectors(ctx, legacy, node1)
		collect(ctx, pods[node1], node1IP)
		waitForPhase(ctx, legacy, diagv1alpha1.PhaseSucceeded)
		expectNoChildren(ctx, legacy)
		Eventually(func(g Gomega) []string { return getDiagnosis(ctx, g, legacy).Finalizers }).Should(BeEmpty())

		fresh := toDB1(ctx, "fresh", ns)
		waitForCollectors(ctx, fresh, node1)
		Consistently(func(g Gomega) []string { return getDiagnosis(ctx, g, fresh).Finalizers }, "1s").Should(BeEmpty())
	})

	It("leaves nothing in Terminating when the CRD is deleted with the controller stopped, and the next controller removes the children", func(ctx SpecContext) {
		finished := createDiagnosis(ctx, MakeDiagnosis("finished", ns).FromPod("ghost").ToPod("db-1", 5432))
		waitForPhase(ctx, finished, diagv1alpha1.PhaseFailed)
		running := toDB(ctx, "running", ns)
		pods := waitForCollectors(ctx, running, node1, node2)
		upload(ctx, pods[node1], &netstack.NodeSnapshot{Version: netstack.Version, Node: node1})

		By("stopping the controller, then deleting the CRD")
		stopManager()
		stopManager, reconfigured = func() {}, true
		crd := &unstructured.Unstructured{}
		crd.SetGroupVersionKind(crdKind)
		crd.SetName("networkdiagnoses." + diagv1alpha1.GroupVersion.Group)
		Expect(k8sClient.Delete(ctx, crd)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(crd), crd))
		}).Should(BeTrue(), "the CRD and every NetworkDiagnosis are gone")
		Expect(collectorPods(ctx, Default, running)).To(HaveLen(2), "children wait for a controller")

		By("installing the CRD again and starting a controller")
		_, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{filepath.Join("..", "config", "crd", "bases")}, ErrorIfPathMissing: true})
		Expect(err).NotTo(HaveOccurred())
		stopManager = startManager()
		expectNoChildren(ctx, running)
		list := &diagv1alpha1.NetworkDiagnosisList{}
		Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		Expect(list.Items).To(BeEmpty())
	})
})

var crdKind = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

// daemonSet is a DaemonSet of one container per image, labelled as its project labels it.
func daemonSet(namespace, name string, images ...string) *appsv1.DaemonSet {
	labels := map[string]string{"k8s-app": name}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}},
		},
	}
	for i, img := range images {
		ds.Spec.Template.Spec.Containers = append(ds.Spec.Template.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: img})
	}
	return ds
}

// waitToStart waits until nd waits in phase Pending with its Admitted condition False for
// reason, the message holding every one of words.
func waitToStart(ctx SpecContext, nd *diagv1alpha1.NetworkDiagnosis, reason string, words ...string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		got := getDiagnosis(ctx, g, nd)
		g.Expect(got.Status.Phase).To(Equal(diagv1alpha1.PhasePending))
		cond := meta.FindStatusCondition(got.Status.Conditions, diagv1alpha1.ConditionAdmitted)
		g.Expect(cond).NotTo(BeNil(), "no Admitted condition in %+v", got.Status.Conditions)
		g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(cond.Reason).To(Equal(reason))
		for _, w := range words {
			g.Expect(cond.Message).To(ContainSubstring(w))
		}
	}).Should(Succeed())
}

// setNodeReady plays the node lifecycle controller setting a node's Ready condition.
func setNodeReady(ctx SpecContext, name string, status corev1.ConditionStatus) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		node := &corev1.Node{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, node)).To(Succeed())
		node.Status.Conditions = MakeNode(name).Ready(status).Status.Conditions
		g.Expect(k8sClient.Status().Update(ctx, node)).To(Succeed())
	}).Should(Succeed())
}

// deleteAllDiagnoses deletes every NetworkDiagnosis in the cluster and waits until they
// are gone.
func deleteAllDiagnoses(ctx SpecContext) {
	GinkgoHelper()
	list := &diagv1alpha1.NetworkDiagnosisList{}
	Expect(k8sClient.List(ctx, list)).To(Succeed())
	for i := range list.Items {
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, &list.Items[i]))).To(Succeed())
	}
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.List(ctx, list)).To(Succeed())
		g.Expect(list.Items).To(BeEmpty())
	}).Should(Succeed())
}
