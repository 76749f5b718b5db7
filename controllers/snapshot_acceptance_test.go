package controllers

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/transport"
)

func TestRefusal(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "netdiag-x", UID: "uid-x"}}
	owner := func(kind, name string, uid types.UID) metav1.OwnerReference {
		return metav1.OwnerReference{APIVersion: "v1", Kind: kind, Name: name, UID: uid, Controller: ptr.To(true)}
	}
	for name, tc := range map[string]struct {
		owners []metav1.OwnerReference
		pod    *corev1.Pod
		want   string
	}{
		"its collector pod": {owners: []metav1.OwnerReference{owner("Pod", "netdiag-x", "uid-x")}, pod: pod},
		"no owner":          {pod: pod, want: "ConfigMap c-0 has no owner, not the collector Pod netdiag-x"},
		"another pod": {owners: []metav1.OwnerReference{owner("Pod", "netdiag-y", "uid-y")}, pod: pod,
			want: "ConfigMap c-0 is owned by Pod netdiag-y, not by the collector Pod netdiag-x"},
		"its pod and another owner": {owners: []metav1.OwnerReference{owner("Pod", "netdiag-x", "uid-x"), owner("Deployment", "d", "uid-d")}, pod: pod,
			want: "ConfigMap c-0 is owned by Deployment d, not by the collector Pod netdiag-x"},
		"an earlier pod of the name": {owners: []metav1.OwnerReference{owner("Pod", "netdiag-x", "uid-old")}, pod: pod,
			want: "ConfigMap c-0 is owned by an earlier Pod netdiag-x (uid uid-old), not the current one (uid uid-x)"},
		"a pod that does not exist": {owners: []metav1.OwnerReference{owner("Pod", "netdiag-x", "uid-x")},
			want: "ConfigMap c-0 is owned by Pod netdiag-x, which does not exist"},
		"another kind of the name": {owners: []metav1.OwnerReference{{APIVersion: "v9", Kind: "Pod", Name: "netdiag-x", UID: "uid-x"}}, pod: pod,
			want: "ConfigMap c-0 is owned by Pod netdiag-x, not by the collector Pod netdiag-x"},
	} {
		t.Run(name, func(t *testing.T) {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c-0", OwnerReferences: tc.owners}}
			if diff := cmp.Diff(tc.want, refusal(cm, "netdiag-x", tc.pod)); diff != "" {
				t.Errorf("refusal (-want +got):\n%s", diff)
			}
		})
	}
}

var _ = Describe("Snapshot acceptance", func() {
	var ns, node, nodeIP string

	// One node, web and db on it: one collector.
	BeforeEach(func(ctx SpecContext) {
		ns = newNamespace(ctx)
		node, nodeIP = ns+"-n1", nextIP("192.168.0.0")
		createNode(ctx, MakeNode(node).IP(nodeIP).PodCIDR("10.244.1.0/24"))
		createPod(ctx, MakePod("web", ns).On(node, nextIP("10.244.0.0")))
		createPod(ctx, MakePod("db", ns).On(node, nextIP("10.244.0.0")).ContainerPort(5432))
	})

	// forge writes cms as a writer other than the collector would: owned by owners.
	forge := func(ctx SpecContext, snap *netstack.NodeSnapshot, pod *corev1.Pod, index int, owners ...metav1.OwnerReference) {
		GinkgoHelper()
		cmd := parseCollectorCommand(pod)
		cms, err := transport.Encode(snap, cmd.namespace, cmd.prefix, cmd.uid)
		Expect(err).NotTo(HaveOccurred())
		cms[0].Name = transport.ChunkName(cmd.prefix, index)
		cms[0].OwnerReferences = owners
		Expect(k8sClient.Create(ctx, cms[0])).To(Succeed())
	}

	It("refuses chunks from any writer but the node's collector pod, says so, and answers from its own", func(ctx SpecContext) {
		nd := createDiagnosis(ctx, MakeDiagnosis("forged", ns).FromPod("web").ToPod("db", 5432))
		pod := waitForCollectors(ctx, nd, node)[node]
		setPodPhase(ctx, pod, corev1.PodRunning, nil)

		By("three forged snapshots under the collector's prefix: unowned, another pod's, an earlier pod's of its name")
		forged := &netstack.NodeSnapshot{Version: netstack.Version, Node: node, Host: netstack.Netstack{
			Interfaces: []netstack.Interface{{Index: 9, Name: "forged0", Kind: "device", MTU: 1500, Up: true}},
		}}
		podRef := func(name string, uid types.UID) metav1.OwnerReference {
			return metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: name, UID: uid}
		}
		forge(ctx, forged, pod, 5)
		forge(ctx, forged, pod, 6, podRef("netdiag-other-collector", "0b0e0000-0000-0000-0000-000000000001"))
		forge(ctx, forged, pod, 7, podRef(pod.Name, "0b0e0000-0000-0000-0000-000000000002"))
		Eventually(func(g Gomega) {
			got := getDiagnosis(ctx, g, nd)
			g.Expect(got.Status.Collectors).To(ConsistOf(And(
				HaveField("Phase", diagv1alpha1.CollectorRunning),
				HaveField("Message", ContainSubstring("Refused 3 snapshot ConfigMaps from an unexpected writer")))))
		}).Should(Succeed())

		By("the collector's own upload")
		snap := collect(ctx, pod, nodeIP)
		got := waitForPhase(ctx, nd, diagv1alpha1.PhaseSucceeded)
		Expect(got.Status.Collectors).To(ConsistOf(And(
			HaveField("Phase", diagv1alpha1.CollectorCollected),
			HaveField("Message", HavePrefix("Refused 3 snapshot ConfigMaps from an unexpected writer")))))
		expectEngineAnswer(got, expectedResult(ctx, nd, map[string]*netstack.NodeSnapshot{node: snap}))
		Expect(got.Status.PacketPath.Hops).NotTo(ContainElement(HaveField("ID", ContainSubstring("forged0"))))
		expectNoChildren(ctx, nd)
	})

	It("fails a node whose only snapshot came from an unexpected writer, saying so", func(ctx SpecContext) {
		nd := createDiagnosis(ctx, MakeDiagnosis("forged-only", ns).FromPod("web").ToPod("db", 5432))
		pod := waitForCollectors(ctx, nd, node)[node]
		forge(ctx, &netstack.NodeSnapshot{Version: netstack.Version, Node: node}, pod, 0)
		setPodPhase(ctx, pod, corev1.PodSucceeded, &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"})
		got := waitForPhase(ctx, nd, diagv1alpha1.PhaseFailed)
		cond := meta.FindStatusCondition(got.Status.Conditions, diagv1alpha1.ConditionCollected)
		Expect(cond).NotTo(BeNil())
		Expect(cond.Message).To(ContainSubstring("exited without uploading a complete snapshot; Refused 1 snapshot ConfigMaps from an unexpected writer"))
		Expect(cond.Message).To(ContainSubstring("has no owner, not the collector Pod " + pod.Name))
	})

	It("fails a node whose snapshot is over the decoded size limit, naming the limit", func(ctx SpecContext) {
		nd := createDiagnosis(ctx, MakeDiagnosis("bomb", ns).FromPod("web").ToPod("db", 5432))
		pod := waitForCollectors(ctx, nd, node)[node]
		cmd := parseCollectorCommand(pod)
		// 128 MiB of JSON in about 130 KiB of gzip, written by the collector itself.
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		Expect(err).NotTo(HaveOccurred())
		fmt.Fprintf(zw, `{"version":%q,"node":%q,"host":{"iptables":"`, netstack.Version, node)
		zeros := bytes.Repeat([]byte("a"), 1<<20)
		for range 128 {
			_, err := zw.Write(zeros)
			Expect(err).NotTo(HaveOccurred())
		}
		fmt.Fprint(zw, `"}}`)
		Expect(zw.Close()).To(Succeed())
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name: transport.ChunkName(cmd.prefix, 0), Namespace: cmd.namespace,
				Labels:      map[string]string{transport.LabelDiagnosis: cmd.uid, transport.LabelNode: node, transport.LabelComponent: transport.ComponentSnapshot},
				Annotations: map[string]string{transport.AnnotationChunk: "0/1"},
			},
			BinaryData: map[string][]byte{"snapshot.json.gz": buf.Bytes()},
		}
		transport.SetOwner([]*corev1.ConfigMap{cm}, pod.Name, pod.UID)
		Expect(k8sClient.Create(ctx, cm)).To(Succeed())
		got := waitForPhase(ctx, nd, diagv1alpha1.PhaseFailed)
		Expect(got.Status.Collectors).To(ConsistOf(And(
			HaveField("Phase", diagv1alpha1.CollectorFailed),
			HaveField("Message", Equal("The snapshot of node "+node+" was refused: decoded size over 64 MiB")))))
	})
})

// TestSemaphore checks the bound on decodes at once: a full semaphore makes the next one
// wait until a slot is released, or until its context ends.
func TestSemaphore(t *testing.T) {
	s := make(semaphore, 1)
	if err := s.acquire(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := s.acquire(ctx); err == nil {
		t.Fatal("a second decode started while the only slot was taken")
	}
	s.release()
	if err := s.acquire(t.Context()); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	var unbounded semaphore
	if err := unbounded.acquire(ctx); err != nil {
		t.Errorf("a nil semaphore bounds nothing: %v", err)
	}
	unbounded.release()
}
