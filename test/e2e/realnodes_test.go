package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/controllers"
	"github.com/netdiag/netdiag/test/lab"
	"github.com/netdiag/netdiag/test/shipped"
)

// imageArchive is the netdiag image real nodes run the collectors from: `make image` builds
// it; NETDIAG_IMAGE_ARCHIVE names another.
func imageArchive() string {
	if p := os.Getenv("NETDIAG_IMAGE_ARCHIVE"); p != "" {
		return p
	}
	return filepath.Join(repoRoot, "bin", "image", "netdiag.oci.tar")
}

// controllerNamespaceLabels are the labels config/manager gives the controller's namespace,
// its Pod Security level among them, so collectors are admitted as in a deployment.
func controllerNamespaceLabels() map[string]string {
	path := filepath.Join(repoRoot, "config", "manager", "manager.yaml")
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	objs, err := shipped.Decode(path, data)
	Expect(err).NotTo(HaveOccurred())
	for _, obj := range objs {
		if obj.GetKind() == "Namespace" && obj.GetName() == controllerNamespace {
			return obj.GetLabels()
		}
	}
	Fail("config/manager/manager.yaml has no Namespace " + controllerNamespace)
	return nil
}

// The flannel vxlan mode on real nodes: a kubelet v1.37 and containerd per lab node, the
// collectors real containers of the netdiag image. One lab serves every spec.
var _ = Describe("netdiag on real nodes", Ordered, ContinueOnFailure, Label("realnodes"), func() {
	var e *env
	var kube kubernetes.Interface
	BeforeAll(func(ctx SpecContext) {
		requireLab()
		if err := lab.CheckNodes("", lab.NodesReal); err != nil {
			Skip("real nodes cannot run here: " + err.Error())
		}
		if _, err := os.Stat(imageArchive()); err != nil {
			Skip("no netdiag image (run make image): " + err.Error())
		}
		e = startEnv(ctx, "nderl", lab.ModeFlannelVXLAN, lab.ProxyIPTables, func(c *lab.Config) {
			c.NodeKind = lab.NodesReal
			c.OCIImages = map[string]string{collectorImage: imageArchive()}
		})
		kube = e.lab.Client()
		DeferCleanup(func(ctx SpecContext) { e.stop(ctx) })
	}, NodeTimeout(4*time.Minute))

	BeforeEach(func() {
		DeferCleanup(func(ctx SpecContext) { e.expectHealthy(ctx) })
	})

	It("runs the shop as containers on nodes their kubelets registered", func(ctx SpecContext) {
		for _, n := range e.lab.Nodes() {
			node, err := kube.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
			Expect(err).NotTo(HaveOccurred())
			Expect(node.Status.NodeInfo.ContainerRuntimeVersion).To(HavePrefix("containerd://"), "node %s", n.Name)
			Expect(node.Status.NodeInfo.KubeletVersion).To(Equal("v1.37.2"), "node %s", n.Name)
		}
		for name := range shopPods {
			pod := e.pod(ctx, name)
			Expect(pod.Status.ContainerStatuses).To(HaveExactElements(HaveField("ContainerID", HavePrefix("containerd://"))), "pod %s", name)
		}
	})

	for _, c := range healthyCases[:3] {
		It("finds "+c.name+" Reachable", func(ctx SpecContext) {
			e.expectDiagnosis(ctx, c.path(paths{e: e, ctx: ctx}), c.want(e))
		}, SpecTimeout(2*time.Minute))
	}
	for _, c := range faultCases {
		if c.name != "DROP in the destination node's FORWARD chain" && c.name != "DROP in the destination pod's INPUT chain" {
			continue
		}
		It("finds "+c.name+" Unreachable and names it", func(ctx SpecContext) {
			c.fault(ctx, e)
			e.expectDiagnosis(ctx, c.path(paths{e: e, ctx: ctx}), c.want(e))
		}, SpecTimeout(2*time.Minute))
	}

	It("has the collectors admitted, pulled IfNotPresent, started and read back by kubectl logs", func(ctx SpecContext) {
		seen := watchCollectors(ctx, kube)
		nd := e.expectDiagnosis(ctx, paths{e: e, ctx: ctx}.podToPod("web", "db", 5432), reachable())
		Expect(nd.Status.Collectors).NotTo(BeEmpty())
		ns := &corev1.Namespace{}
		Expect(e.client.Get(ctx, client.ObjectKey{Name: controllerNamespace}, ns)).To(Succeed())
		Expect(ns.Labels).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "privileged"),
			"the collectors ran under the level a deployment gives their namespace")
		for _, cs := range nd.Status.Collectors {
			// The kubelet reports the container's end a moment after the snapshot is uploaded.
			var rec collectorRecord
			Eventually(func(g Gomega) {
				rec = seen(cs.Pod)
				g.Expect(rec.pod).NotTo(BeNil(), "collector pod %s seen", cs.Pod)
				g.Expect(rec.logged).To(BeTrue(), "collector pod %s seen ended", cs.Pod)
				g.Expect(rec.pod.Status.ContainerStatuses).To(HaveExactElements(And(
					HaveField("ContainerID", HavePrefix("containerd://")),
					HaveField("ImageID", Not(BeEmpty())),
					HaveField("State.Terminated.ExitCode", BeZero()),
				)), "collector %s on %s ran as a container of the image and ended well", cs.Pod, cs.Node)
			}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
			Expect(rec.pod.Spec.Containers[0].ImagePullPolicy).To(Equal(corev1.PullIfNotPresent))
			// The pod's own namespace is found through what the collector mounts (the node's
			// /var/run/netns) and sees (the host's PIDs), never through a runtime socket.
			for _, v := range rec.pod.Spec.Volumes {
				if v.HostPath != nil {
					Expect(v.HostPath.Path).NotTo(ContainSubstring(".sock"), "collector %s mounts %s", cs.Pod, v.HostPath.Path)
				}
			}
			Expect(rec.logErr).NotTo(HaveOccurred(), "kubectl logs %s, read when its container ended", cs.Pod)
			GinkgoWriter.Printf("collector %s on %s logged %d bytes\n", cs.Pod, cs.Node, len(rec.logs))
		}
		// What the collector on node-1 found the web pod in: containerd's own mount of the
		// pod's namespace, in the node's /var/run/netns and nowhere else.
		out, err := e.lab.NodeExec(ctx, "node-1", "ls", "/var/run/netns")
		Expect(err).NotTo(HaveOccurred())
		var cni []string
		for _, name := range strings.Fields(string(out)) {
			if strings.HasPrefix(name, "cni-") {
				cni = append(cni, name)
			}
		}
		Expect(cni).NotTo(BeEmpty(), "containerd mounts pod namespaces under the node's /var/run/netns")
		// The mount point is a file on the machine's /run/netns, seen from every namespace; the
		// namespace is mounted on it in the node's mount namespace only.
		for _, name := range cni {
			var st syscall.Statfs_t
			path := filepath.Join("/var/run/netns", name)
			if err := syscall.Statfs(path, &st); err == nil {
				Expect(st.Type).NotTo(BeEquivalentTo(nsfsMagic), "%s is a network namespace in the root mount namespace too", path)
			}
		}
	}, SpecTimeout(2*time.Minute))

	It("has the kubelet end a collector at its activeDeadlineSeconds", func(ctx SpecContext) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "collector-past-deadline", Namespace: controllerNamespace},
			Spec: corev1.PodSpec{
				NodeName: "node-2", HostNetwork: true, HostPID: true,
				RestartPolicy:                 corev1.RestartPolicyNever,
				ActiveDeadlineSeconds:         ptr.To[int64](3),
				TerminationGracePeriodSeconds: ptr.To[int64](1),
				ServiceAccountName:            controllers.CollectorServiceAccount,
				Containers: []corev1.Container{{
					Name: "collector", Image: collectorImage, ImagePullPolicy: corev1.PullIfNotPresent,
					// A collector that hangs: the image's own sleep, under the collector's
					// securityContext.
					Command: []string{"sleep", "600"}, SecurityContext: controllers.CollectorSecurityContext(),
				}},
			},
		}
		e.create(ctx, pod)
		DeferCleanup(func(ctx SpecContext) {
			Expect(client.IgnoreNotFound(e.client.Delete(ctx, pod))).To(Succeed())
		})
		Eventually(func(g Gomega) {
			got, err := kube.CoreV1().Pods(controllerNamespace).Get(ctx, pod.Name, metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got.Status.Phase).To(Equal(corev1.PodFailed))
			g.Expect(got.Status.Reason).To(Equal("DeadlineExceeded"))
		}).WithContext(ctx).WithTimeout(60 * time.Second).Should(Succeed())
	}, SpecTimeout(2*time.Minute))

	It("runs the manager in-cluster as config/default deploys it, and answers from there", func(ctx SpecContext) {
		// The manager on the host steps aside; the one config/default deploys answers alone,
		// with its own service account's permissions and the collector image it finds in its
		// own pod, and the host manager comes back for the specs after this one.
		e.stopManager()
		DeferCleanup(func(ctx SpecContext) { e.startManager() })
		created := e.deployDefault(ctx)
		DeferCleanup(func(ctx SpecContext) {
			for _, obj := range slices.Backward(created) {
				Expect(client.IgnoreNotFound(e.client.Delete(ctx, obj))).To(Succeed(), "delete %s %s", obj.GetKind(), obj.GetName())
			}
		})
		var manager *corev1.Pod
		Eventually(func(g Gomega) {
			pods, err := kube.CoreV1().Pods(controllerNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=manager"})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pods.Items).To(HaveLen(1))
			manager = &pods.Items[0]
			g.Expect(manager.Status.ContainerStatuses).To(HaveExactElements(And(
				HaveField("Ready", BeTrue()), HaveField("ContainerID", HavePrefix("containerd://")),
			)), "the manager's container started from the image and answers its readiness probe")
		}).WithContext(ctx).WithTimeout(90 * time.Second).Should(Succeed())

		seen := watchCollectors(ctx, kube)
		nd := e.expectDiagnosis(ctx, paths{e: e, ctx: ctx}.podToPod("web", "db", 5432), reachable())
		Expect(nd.Status.Collectors).NotTo(BeEmpty())
		for _, cs := range nd.Status.Collectors {
			Eventually(func(g Gomega) {
				rec := seen(cs.Pod)
				g.Expect(rec.pod).NotTo(BeNil(), "collector pod %s seen", cs.Pod)
				g.Expect(rec.pod.Spec.Containers[0].Image).To(Equal(manager.Spec.Containers[0].Image),
					"collector %s runs the manager's own image", cs.Pod)
			}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		}
		logs, err := kube.CoreV1().Pods(controllerNamespace).GetLogs(manager.Name, &corev1.PodLogOptions{Container: "manager"}).DoRaw(ctx)
		Expect(err).NotTo(HaveOccurred(), "kubectl logs of the manager")
		Expect(string(logs)).To(ContainSubstring("Starting manager"))
	}, SpecTimeout(4*time.Minute))

	// Last: the node comes back, but its pods' state is a kubelet restart's.
	It("gives up on the collector of a node whose kubelet is stopped, saying NodeNotReady", func(ctx SpecContext) {
		Expect(e.lab.StopKubelet("node-2")).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			Expect(e.lab.StartKubelet("node-2")).To(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(nodeReady(ctx, kube, "node-2")).To(Equal(corev1.ConditionTrue))
			}).WithContext(ctx).WithTimeout(90 * time.Second).Should(Succeed())
		})
		// The node lifecycle controller marks the node Unknown once its heartbeats stop for
		// the grace period.
		Eventually(func(g Gomega) {
			g.Expect(nodeReady(ctx, kube, "node-2")).To(Equal(corev1.ConditionUnknown))
		}).WithContext(ctx).WithTimeout(2 * time.Minute).Should(Succeed())
		nd := e.diagnose(ctx, paths{e: e, ctx: ctx}.podToPod("web", "db", 5432).nd)
		Expect(nd.Status.Collectors).To(ContainElement(And(
			HaveField("Node", "node-2"), HaveField("Reason", diagv1alpha1.ReasonNodeNotReady),
		)), "%s", conditionsOf(nd))
	}, SpecTimeout(5*time.Minute))
})

// deployDefault creates what `kubectl apply -k config/default` would, as kustomize renders
// it, with the manager's image the one the nodes imported; objects that exist already (the
// CRD, the namespace, the collectors' RBAC) are left as they are. It returns the objects it
// created.
func (e *env) deployDefault(ctx context.Context) []*unstructured.Unstructured {
	GinkgoHelper()
	kubectl := filepath.Join(shipped.BinaryAssets(repoRoot), "kubectl")
	out, err := exec.CommandContext(ctx, kubectl, "kustomize", filepath.Join(repoRoot, "config", "default")).Output()
	Expect(err).NotTo(HaveOccurred(), "kubectl kustomize config/default")
	objs, err := shipped.Decode("config/default", out)
	Expect(err).NotTo(HaveOccurred())
	var created []*unstructured.Unstructured
	for _, obj := range objs {
		if obj.GetKind() == "Deployment" {
			containers, _, err := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "containers")
			Expect(err).NotTo(HaveOccurred())
			containers[0].(map[string]any)["image"] = collectorImage
			Expect(unstructured.SetNestedSlice(obj.Object, containers, "spec", "template", "spec", "containers")).To(Succeed())
		}
		err := e.client.Create(ctx, obj)
		if apierrors.IsAlreadyExists(err) {
			continue
		}
		Expect(err).NotTo(HaveOccurred(), "create %s %s", obj.GetKind(), obj.GetName())
		created = append(created, obj)
	}
	return created
}

// collectorRecord is what a spec saw of a collector pod: its last status, and its log as
// `kubectl logs` read it once the container had ended.
type collectorRecord struct {
	pod    *corev1.Pod
	logged bool
	logs   []byte
	logErr error
}

// watchCollectors records every pod of the controller's namespace as the kubelet reports it
// until the spec ends, reading each one's log when its container ends: the controller deletes
// its collectors soon after a diagnosis finishes. The returned function looks a pod up.
func watchCollectors(ctx context.Context, kube kubernetes.Interface) func(name string) collectorRecord {
	w, err := kube.CoreV1().Pods(controllerNamespace).Watch(ctx, metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(w.Stop)
	var mu sync.Mutex
	seen := map[string]collectorRecord{}
	go func() {
		defer GinkgoRecover()
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			mu.Lock()
			rec := seen[pod.Name]
			mu.Unlock()
			rec.pod = pod
			statuses := pod.Status.ContainerStatuses
			if !rec.logged && len(statuses) > 0 && statuses[0].State.Terminated != nil {
				rec.logs, rec.logErr = kube.CoreV1().Pods(controllerNamespace).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
				rec.logged = true
			}
			mu.Lock()
			seen[pod.Name] = rec
			mu.Unlock()
		}
	}()
	return func(name string) collectorRecord {
		mu.Lock()
		defer mu.Unlock()
		return seen[name]
	}
}

// nsfsMagic is the filesystem type of a mounted namespace (NSFS_MAGIC).
const nsfsMagic = 0x6e736673

func nodeReady(ctx context.Context, kube kubernetes.Interface, name string) corev1.ConditionStatus {
	node, err := kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}
