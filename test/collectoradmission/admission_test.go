package collectoradmission

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/netdiag/netdiag/internal/collector"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/transport"
)

// serviceAccount is the collector's, as config/collector names it.
const serviceAccount = "netdiag-collector"

// collectorPod creates a collector pod as the controller does, running as the collector's
// service account.
func collectorPod(ctx context.Context, name string) *corev1.Pod {
	GinkgoHelper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: corev1.PodSpec{
			ServiceAccountName: serviceAccount,
			NodeName:           "node-1",
			Containers:         []corev1.Container{{Name: "collect", Image: "netdiag:dev"}},
		},
	}
	Expect(admin.Create(ctx, pod)).To(Succeed())
	return pod
}

// tokenClient is a client authenticated as the collector service account with a token the
// API server minted (TokenRequest), bound to pod when it is set, as the kubelet mounts one
// in a collector pod.
func tokenClient(ctx context.Context, pod *corev1.Pod) client.Client {
	GinkgoHelper()
	cl, err := client.New(tokenConfig(ctx, pod), client.Options{Scheme: scheme.Scheme, Mapper: admin.RESTMapper()})
	Expect(err).NotTo(HaveOccurred())
	return cl
}

// tokenConfig is tokenClient's configuration.
func tokenConfig(ctx context.Context, pod *corev1.Pod) *rest.Config {
	GinkgoHelper()
	cs, err := kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	if pod != nil {
		req.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}
	}
	tok, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount, req, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	c := rest.AnonymousClientConfig(cfg)
	c.BearerToken = tok.Status.Token
	return c
}

// ownedBy is the owner reference the collector sets to its own pod.
func ownedBy(name string, uid types.UID) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: name, UID: uid, Controller: ptr.To(true)}
}

// snapshot is a chunk as the collector writes it, named name and owned by owners.
func snapshot(name string, owners ...metav1.OwnerReference) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: namespace, OwnerReferences: owners,
			Labels: map[string]string{
				transport.LabelComponent: transport.ComponentSnapshot,
				transport.LabelDiagnosis: "d-uid",
				transport.LabelNode:      "node-1",
			},
			Annotations: map[string]string{transport.AnnotationChunk: "0/1"},
		},
		BinaryData: map[string][]byte{"snapshot.compact": []byte("chunk")},
	}
}

// refusal matches an admission refusal (403 Forbidden) whose message has part.
func refusal(part string) OmegaMatcher {
	return And(Satisfy(apierrors.IsForbidden), MatchError(ContainSubstring(part)))
}

var _ = Describe("A collector's ConfigMaps", Ordered, func() {
	var (
		podA, podB   *corev1.Pod
		asA, unbound client.Client
	)

	BeforeAll(func(ctx SpecContext) {
		podA, podB = collectorPod(ctx, "netdiag-a"), collectorPod(ctx, "netdiag-b")
		asA, unbound = tokenClient(ctx, podA), tokenClient(ctx, nil)
		// A new policy is enforced about two seconds after it is created: wait for its
		// first refusal, bounded by the default timeout.
		Eventually(func() error {
			return asA.Create(ctx, snapshot("netdiag-a-99"), client.DryRunAll)
		}).WithContext(ctx).Should(Satisfy(apierrors.IsForbidden), "the policy of config/collector is never enforced")
	})

	It("lets a collector create, replace and delete its own snapshot", func(ctx SpecContext) {
		cm := snapshot("netdiag-a-0", ownedBy(podA.Name, podA.UID))
		Expect(asA.Create(ctx, cm)).To(Succeed())
		// The collector's update carries no resourceVersion: it replaces what is there.
		again := snapshot("netdiag-a-0", ownedBy(podA.Name, podA.UID))
		again.BinaryData["snapshot.compact"] = []byte("second")
		Expect(asA.Update(ctx, again)).To(Succeed())
		Expect(asA.Delete(ctx, again)).To(Succeed())
	})

	It("lets the collector's own upload through, a first time and again", func(ctx SpecContext) {
		cs, err := kubernetes.NewForConfig(tokenConfig(ctx, podA))
		Expect(err).NotTo(HaveOccurred())
		dst := collector.Destination{Namespace: namespace, Prefix: podA.Name, DiagnosisUID: "d-uid", Pod: podA.Name, PodUID: podA.UID}
		snap := &netstack.NodeSnapshot{Version: netstack.Version, Node: "node-1"}
		Expect(collector.Upload(ctx, cs, snap, dst)).To(Succeed())
		Expect(collector.Upload(ctx, cs, snap, dst)).To(Succeed(), "a second upload replaces the first")
		got := &corev1.ConfigMap{}
		Expect(admin.Get(ctx, client.ObjectKey{Namespace: namespace, Name: transport.ChunkName(podA.Name, 0)}, got)).To(Succeed())
		Expect(got.OwnerReferences).To(ConsistOf(HaveField("UID", podA.UID)))
		Expect(admin.Delete(ctx, got)).To(Succeed())
	})

	DescribeTable("refuses a collector any other ConfigMap it would create",
		func(ctx SpecContext, cm func() *corev1.ConfigMap, message string) {
			Expect(asA.Create(ctx, cm(), client.DryRunAll)).To(refusal(message))
		},
		Entry("another pod's snapshot", func() *corev1.ConfigMap { return snapshot("netdiag-b-0", ownedBy(podB.Name, podB.UID)) },
			"collector pod netdiag-a may write only ConfigMaps owned by itself alone"),
		Entry("its own name, owned by another pod", func() *corev1.ConfigMap { return snapshot("netdiag-a-0", ownedBy(podB.Name, podB.UID)) },
			"collector pod netdiag-a may write only ConfigMaps owned by itself alone"),
		Entry("an unowned snapshot", func() *corev1.ConfigMap { return snapshot("netdiag-a-0") },
			"collector pod netdiag-a may write only ConfigMaps owned by itself alone"),
		Entry("owned by a pod of its name but another UID", func() *corev1.ConfigMap {
			return snapshot("netdiag-a-0", ownedBy(podA.Name, "0b0e0000-0000-0000-0000-000000000001"))
		}, "collector pod netdiag-a may write only ConfigMaps owned by itself alone"),
		Entry("owned by itself and something else", func() *corev1.ConfigMap {
			return snapshot("netdiag-a-0", ownedBy(podA.Name, podA.UID), metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: podB.Name, UID: podB.UID})
		}, "owned by itself alone"),
		Entry("its own, named for another pod", func() *corev1.ConfigMap { return snapshot("netdiag-b-0", ownedBy(podA.Name, podA.UID)) },
			"collector pod netdiag-a may write only its snapshot ConfigMaps: named netdiag-a-<chunk>"),
		Entry("its own, without the snapshot labels", func() *corev1.ConfigMap {
			cm := snapshot("netdiag-a-0", ownedBy(podA.Name, podA.UID))
			cm.Labels = nil
			return cm
		}, "labelled app.kubernetes.io/component=snapshot"),
		Entry("any other ConfigMap", func() *corev1.ConfigMap {
			return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "manager-config", Namespace: namespace}}
		}, "owned by itself alone"),
	)

	It("refuses a collector overwriting or deleting what it does not own", func(ctx SpecContext) {
		theirs := snapshot("netdiag-b-0", ownedBy(podB.Name, podB.UID))
		other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt-lookalike", Namespace: namespace}, Data: map[string]string{"k": "v"}}
		for _, cm := range []*corev1.ConfigMap{theirs, other} {
			Expect(admin.Create(ctx, cm.DeepCopy())).To(Succeed(), "the cluster admin is not the policy's business")
		}

		By("taking another pod's snapshot over, as its owner")
		forged := snapshot("netdiag-b-0", ownedBy(podA.Name, podA.UID))
		forged.Name = theirs.Name
		Expect(asA.Update(ctx, forged)).To(refusal("collector pod netdiag-a may update or delete only ConfigMaps it owns; netdiag-b-0 is not one of them"))
		By("deleting another pod's snapshot, and a ConfigMap of the namespace")
		Expect(asA.Delete(ctx, theirs.DeepCopy())).To(refusal("netdiag-b-0 is not one of them"))
		Expect(asA.Delete(ctx, other.DeepCopy())).To(refusal(other.Name + " is not one of them"))

		got := &corev1.ConfigMap{}
		Expect(admin.Get(ctx, client.ObjectKeyFromObject(theirs), got)).To(Succeed())
		Expect(got.OwnerReferences).To(Equal(theirs.OwnerReferences), "the other pod's snapshot is untouched")
	})

	It("refuses a token bound to no pod", func(ctx SpecContext) {
		Expect(unbound.Create(ctx, snapshot("netdiag-a-0", ownedBy(podA.Name, podA.UID)), client.DryRunAll)).
			To(refusal("a collector may write ConfigMaps only with a service-account token bound to its own pod"))
	})

	It("gives a collector no read of the namespace's ConfigMaps", func(ctx SpecContext) {
		Expect(asA.List(ctx, &corev1.ConfigMapList{}, client.InNamespace(namespace))).To(Satisfy(apierrors.IsForbidden))
		Expect(asA.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "netdiag-b-0"}, &corev1.ConfigMap{})).To(Satisfy(apierrors.IsForbidden))
	})
})
