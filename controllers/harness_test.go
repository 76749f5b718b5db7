package controllers

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/transport"
)

// The harness plays the parts envtest does not run: the scheduler and kubelet of the
// workload (objects with their status), the kubelet of the collector pods (phases, the end
// of graceful deletion) and the collector itself (snapshots as ConfigMaps).

var ipCounter atomic.Uint32

// nextIP hands out addresses no other test uses, so that address lookups never collide
// across tests sharing one API server.
func nextIP(base string) string {
	n := ipCounter.Add(1)
	p := netip.MustParseAddr(base).As4()
	p[2], p[3] = byte(n>>8), byte(n)
	return netip.AddrFrom4(p).String()
}

// newNamespace creates a namespace for one test's workload and diagnoses.
func newNamespace(ctx context.Context) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "nd-test-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// createWithStatus creates obj, then writes the status it was built with (*status, a field
// of obj), which the API server drops on create: the scheduler's and kubelet's part.
func createWithStatus[S any](ctx context.Context, c client.Client, obj client.Object, status *S) error {
	built := *status
	if err := c.Create(ctx, obj); err != nil {
		return fmt.Errorf("create %T %s: %w", obj, obj.GetName(), err)
	}
	*status = built
	if err := c.Status().Update(ctx, obj); err != nil {
		return fmt.Errorf("status of %T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}

func createNode(ctx context.Context, w *NodeWrapper) *corev1.Node {
	node := w.Obj()
	Expect(createWithStatus(ctx, k8sClient, node, &node.Status)).To(Succeed())
	return node
}

func createPod(ctx context.Context, w *PodWrapper) *corev1.Pod {
	pod := w.Obj()
	Expect(createWithStatus(ctx, k8sClient, pod, &pod.Status)).To(Succeed())
	return pod
}

func createService(ctx context.Context, w *ServiceWrapper) *corev1.Service {
	svc := w.Obj()
	Expect(k8sClient.Create(ctx, svc)).To(Succeed())
	return svc
}

func createEndpointSlice(ctx context.Context, w *EndpointSliceWrapper) *discoveryv1.EndpointSlice {
	es := w.Obj()
	Expect(k8sClient.Create(ctx, es)).To(Succeed())
	return es
}

func createDiagnosis(ctx context.Context, w *DiagnosisWrapper) *diagv1alpha1.NetworkDiagnosis {
	nd := w.Obj()
	Expect(k8sClient.Create(ctx, nd)).To(Succeed())
	return nd
}

func getDiagnosis(ctx context.Context, g Gomega, nd *diagv1alpha1.NetworkDiagnosis) *diagv1alpha1.NetworkDiagnosis {
	out := &diagv1alpha1.NetworkDiagnosis{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(nd), out)).To(Succeed())
	return out
}

// waitForPhase waits until nd reaches phase for its current generation and returns it.
func waitForPhase(ctx context.Context, nd *diagv1alpha1.NetworkDiagnosis, phase diagv1alpha1.Phase) *diagv1alpha1.NetworkDiagnosis {
	GinkgoHelper()
	var got *diagv1alpha1.NetworkDiagnosis
	Eventually(func(g Gomega) {
		got = getDiagnosis(ctx, g, nd)
		g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		g.Expect(got.Status.Phase).To(Equal(phase), "status: %+v", got.Status)
	}).Should(Succeed())
	return got
}

// waitToFail waits until nd is Failed with condition typ False for reason, the message
// holding every one of words and standing as the summary, and returns it.
func waitToFail(ctx context.Context, nd *diagv1alpha1.NetworkDiagnosis, typ, reason string, words ...string) *diagv1alpha1.NetworkDiagnosis {
	GinkgoHelper()
	got := waitForPhase(ctx, nd, diagv1alpha1.PhaseFailed)
	cond := meta.FindStatusCondition(got.Status.Conditions, typ)
	Expect(cond).NotTo(BeNil(), "no %s condition in %+v", typ, got.Status.Conditions)
	Expect(cond.Status).To(Equal(metav1.ConditionFalse))
	Expect(cond.Reason).To(Equal(reason))
	for _, w := range words {
		Expect(cond.Message).To(ContainSubstring(w))
	}
	Expect(got.Status.Summary).To(Equal(cond.Message))
	return got
}

// collectorPods lists the collector pods of nd (any generation) by node.
func collectorPods(ctx context.Context, g Gomega, nd *diagv1alpha1.NetworkDiagnosis) map[string]*corev1.Pod {
	list := &corev1.PodList{}
	g.Expect(k8sClient.List(ctx, list, client.InNamespace(controllerNamespace),
		client.MatchingLabels{transport.LabelDiagnosis: string(nd.UID)})).To(Succeed())
	out := map[string]*corev1.Pod{}
	for i := range list.Items {
		out[list.Items[i].Spec.NodeName] = &list.Items[i]
	}
	return out
}

// waitForCollectors waits for one collector pod on each of nodes and no other.
func waitForCollectors(ctx context.Context, nd *diagv1alpha1.NetworkDiagnosis, nodes ...string) map[string]*corev1.Pod {
	GinkgoHelper()
	var pods map[string]*corev1.Pod
	Eventually(func(g Gomega) {
		pods = collectorPods(ctx, g, nd)
		g.Expect(slices.Sorted(keys(pods))).To(Equal(slices.Sorted(slices.Values(nodes))))
	}).Should(Succeed())
	return pods
}

func keys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// expectNoChildren waits until nothing of nd is left in the controller's namespace,
// finishing the graceful deletion of collector pods as the kubelet would.
func expectNoChildren(ctx context.Context, nd *diagv1alpha1.NetworkDiagnosis) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		reapTerminating(ctx, g)
		pods := &corev1.PodList{}
		g.Expect(k8sClient.List(ctx, pods, client.InNamespace(controllerNamespace),
			client.MatchingLabels{transport.LabelDiagnosis: string(nd.UID)})).To(Succeed())
		g.Expect(pods.Items).To(BeEmpty(), "collector pods left")
		cms := &corev1.ConfigMapList{}
		g.Expect(k8sClient.List(ctx, cms, client.InNamespace(controllerNamespace),
			client.MatchingLabels{transport.LabelDiagnosis: string(nd.UID)})).To(Succeed())
		g.Expect(cms.Items).To(BeEmpty(), "snapshot ConfigMaps left")
	}).Should(Succeed())
}

// reapTerminating ends the graceful deletion of collector pods, as a kubelet does once
// their containers stopped.
func reapTerminating(ctx context.Context, g Gomega) {
	pods := &corev1.PodList{}
	g.Expect(k8sClient.List(ctx, pods, client.InNamespace(controllerNamespace))).To(Succeed())
	for i := range pods.Items {
		if pods.Items[i].DeletionTimestamp != nil {
			err := k8sClient.Delete(ctx, &pods.Items[i], client.GracePeriodSeconds(0))
			g.Expect(client.IgnoreNotFound(err)).To(Succeed())
		}
	}
}

// setPodPhase plays the kubelet reporting a collector pod's phase.
func setPodPhase(ctx context.Context, pod *corev1.Pod, phase corev1.PodPhase, terminated *corev1.ContainerStateTerminated) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		cur := &corev1.Pod{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), cur)).To(Succeed())
		cur.Status.Phase = phase
		now := metav1.Now()
		cur.Status.StartTime = &now
		state := corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
		if terminated != nil {
			state = corev1.ContainerState{Terminated: terminated}
		}
		cur.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: collectorContainer, Image: collectorImage, State: state}}
		g.Expect(k8sClient.Status().Update(ctx, cur)).To(Succeed())
	}).Should(Succeed())
}

// collectorCommand is a collector pod's command line, read as `netdiag collect` reads it.
type collectorCommand struct {
	node, namespace, uid, prefix string
	pods                         []netstack.PodRef
	probe                        map[string]string
	apiServers                   []string
	// lookup holds the --lookup-* flags of a name for the source pod's resolver.
	lookup map[string]string
}

func parseCollectorCommand(pod *corev1.Pod) collectorCommand {
	GinkgoHelper()
	c := pod.Spec.Containers[0]
	Expect(c.Command).To(Equal([]string{"netdiag"}))
	Expect(c.Args).NotTo(BeEmpty())
	Expect(c.Args[0]).To(Equal("collect"))
	cmd := collectorCommand{probe: map[string]string{}, lookup: map[string]string{}}
	args := c.Args[1:]
	Expect(len(args)%2).To(BeZero(), "flags come in pairs: %q", args)
	for i := 0; i < len(args); i += 2 {
		flag, val := args[i], args[i+1]
		switch flag {
		case "--node":
			cmd.node = val
		case "--upload-namespace":
			cmd.namespace = val
		case "--diagnosis-uid":
			cmd.uid = val
		case "--snapshot-prefix":
			cmd.prefix = val
		case "--pod":
			ref, ip, ok := strings.Cut(val, "=")
			Expect(ok).To(BeTrue(), "--pod %q is <ns>/<name>=<ip>", val)
			ns, name, ok := strings.Cut(ref, "/")
			Expect(ok).To(BeTrue(), "--pod %q is <ns>/<name>=<ip>", val)
			cmd.pods = append(cmd.pods, netstack.PodRef{Namespace: ns, Name: name, IP: netip.MustParseAddr(ip)})
		case "--api-server":
			cmd.apiServers = append(cmd.apiServers, val)
		case "--probe-from", "--probe-to", "--probe-protocol", "--probe-port":
			cmd.probe[flag] = val
		case "--lookup-from", "--lookup-name", "--lookup-nameserver", "--lookup-search", "--lookup-ndots":
			cmd.lookup[flag] = val
		default:
			Fail(fmt.Sprintf("unknown collector flag %s", flag))
		}
	}
	return cmd
}

// collect plays `netdiag collect` on the node of pod: it gathers a snapshot (here: the
// node's and its pods' addresses), uploads it as the real collector does and, as the
// kubelet, marks the pod Succeeded. It returns the snapshot. A probe the pod asks for gets
// through.
func collect(ctx context.Context, pod *corev1.Pod, nodeIP string) *netstack.NodeSnapshot {
	GinkgoHelper()
	return collectProbing(ctx, pod, nodeIP, nil)
}

// collectProbing is collect where a probe the pod asks for observes probe (nil: it gets
// through).
func collectProbing(ctx context.Context, pod *corev1.Pod, nodeIP string, probe *netstack.ProbeResult) *netstack.NodeSnapshot {
	GinkgoHelper()
	return collectEdited(ctx, pod, nodeIP, probe, nil)
}

// collectEdited is collectProbing with the snapshot changed by edit before it is uploaded.
func collectEdited(ctx context.Context, pod *corev1.Pod, nodeIP string, probe *netstack.ProbeResult, edit func(*netstack.NodeSnapshot)) *netstack.NodeSnapshot {
	GinkgoHelper()
	cmd := parseCollectorCommand(pod)
	snap := &netstack.NodeSnapshot{
		Version:     netstack.Version,
		Node:        cmd.node,
		CollectedAt: time.Now().UTC().Truncate(time.Second),
		Host: netstack.Netstack{
			Interfaces: []netstack.Interface{
				{Index: 1, Name: "lo", Kind: "loopback", MTU: 65536, Up: true, Addresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
				{Index: 2, Name: "eth0", Kind: "device", MTU: 1500, Up: true, Addresses: []netip.Prefix{netip.PrefixFrom(netip.MustParseAddr(nodeIP), 24)}},
			},
			Sysctls: map[string]string{"ipv4/ip_forward": "1"},
		},
	}
	for _, ref := range cmd.pods {
		snap.Pods = append(snap.Pods, netstack.Netstack{
			Pod: &ref,
			Interfaces: []netstack.Interface{
				{Index: 2, Name: "eth0", Kind: "veth", MTU: 1450, Up: true, Addresses: []netip.Prefix{netip.PrefixFrom(ref.IP, 24)}},
			},
		})
	}
	if len(cmd.probe) > 0 {
		snap.Probe = &netstack.ProbeResult{Reachable: true, Message: "connected to " + cmd.probe["--probe-to"]}
		if probe != nil {
			snap.Probe = probe
		}
	}
	if edit != nil {
		edit(snap)
	}
	upload(ctx, pod, snap)
	setPodPhase(ctx, pod, corev1.PodSucceeded, &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"})
	return snap
}

// upload writes snap as the collector pod does, owned by the pod.
func upload(ctx context.Context, pod *corev1.Pod, snap *netstack.NodeSnapshot) {
	GinkgoHelper()
	cmd := parseCollectorCommand(pod)
	cms, err := transport.Encode(snap, cmd.namespace, cmd.prefix, cmd.uid)
	Expect(err).NotTo(HaveOccurred())
	transport.SetOwner(cms, pod.Name, pod.UID)
	for _, cm := range cms {
		Expect(k8sClient.Create(ctx, cm)).To(Succeed())
	}
}

// expectedResult runs the engine on the same input the controller had: the cluster's
// objects as the API server holds them, the uploaded snapshots, the spec's question.
func expectedResult(ctx context.Context, nd *diagv1alpha1.NetworkDiagnosis, nodes map[string]*netstack.NodeSnapshot) *diagnose.Result {
	GinkgoHelper()
	snap, err := listSnapshot(ctx, k8sClient)
	Expect(err).NotTo(HaveOccurred())
	srcRef, dstRef, err := endpointRefs(nd)
	Expect(err).NotTo(HaveOccurred())
	src, err := snap.Resolve(srcRef)
	Expect(err).NotTo(HaveOccurred())
	dst, err := snap.Resolve(dstRef)
	Expect(err).NotTo(HaveOccurred())
	res, err := diagnose.Diagnose(diagnose.Input{Cluster: snap, Nodes: nodes, Question: question(nd.Spec, src, dst), NetworkPlugin: nd.Spec.NetworkPlugin, NetworkPluginConfig: nd.Spec.NetworkPluginConfig})
	Expect(err).NotTo(HaveOccurred())
	return res
}

// expectEngineAnswer checks that the status carries the engine's answer.
func expectEngineAnswer(got *diagv1alpha1.NetworkDiagnosis, want *diagnose.Result) {
	GinkgoHelper()
	Expect(got.Status.Verdict).To(BeEquivalentTo(want.Verdict))
	var wantReasons, gotReasons []string
	for _, s := range want.Suspicions {
		wantReasons = append(wantReasons, string(s.Reason))
	}
	for _, s := range got.Status.Suspicions {
		gotReasons = append(gotReasons, s.Reason)
	}
	Expect(gotReasons).To(Equal(wantReasons))
	var wantHops, gotHops []string
	if want.Path != nil {
		for _, n := range want.Path.Nodes {
			wantHops = append(wantHops, n.ID)
		}
	}
	if got.Status.PacketPath != nil {
		for _, h := range got.Status.PacketPath.Hops {
			gotHops = append(gotHops, h.ID)
		}
	}
	Expect(gotHops).To(Equal(wantHops))
	Expect(got.Status.Summary).To(HavePrefix(want.Summary))
}

// eventReasons lists the reasons of the events about nd.
func eventReasons(ctx context.Context, g Gomega, nd *diagv1alpha1.NetworkDiagnosis) []string {
	list := &eventsv1.EventList{}
	g.Expect(k8sClient.List(ctx, list, client.InNamespace(nd.Namespace))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.Regarding.UID == nd.UID {
			out = append(out, e.Reason)
		}
	}
	return out
}

// eventsInOrder returns the reasons and notes of the events about nd in the order they
// happened, as `kubectl describe` lists them.
func eventsInOrder(ctx context.Context, g Gomega, nd *diagv1alpha1.NetworkDiagnosis) (reasons, notes []string) {
	list := &eventsv1.EventList{}
	g.Expect(k8sClient.List(ctx, list, client.InNamespace(nd.Namespace))).To(Succeed())
	events := slices.DeleteFunc(list.Items, func(e eventsv1.Event) bool { return e.Regarding.UID != nd.UID })
	slices.SortStableFunc(events, func(a, b eventsv1.Event) int { return a.EventTime.Compare(b.EventTime.Time) })
	for _, e := range events {
		reasons, notes = append(reasons, e.Reason), append(notes, e.Note)
	}
	return reasons, notes
}

// poke changes an annotation, the way a user nudges a controller, so that a reconcile runs
// after the fake clock moved.
func poke(ctx context.Context, nd *diagv1alpha1.NetworkDiagnosis) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		cur := getDiagnosis(ctx, g, nd)
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations["test.netdiag.dev/poke"] = time.Now().Format(time.RFC3339Nano)
		err := k8sClient.Update(ctx, cur)
		if apierrors.IsNotFound(err) {
			return
		}
		g.Expect(err).To(Succeed())
	}).Should(Succeed())
}

// kubernetesEndpoints are the API server's own addresses, as the kubernetes EndpointSlice
// the API server keeps lists them.
func kubernetesEndpoints(ctx context.Context) []string {
	GinkgoHelper()
	var out []string
	Eventually(func(g Gomega) {
		l := &discoveryv1.EndpointSliceList{}
		g.Expect(k8sClient.List(ctx, l, client.InNamespace(metav1.NamespaceDefault),
			client.MatchingLabels{discoveryv1.LabelServiceName: "kubernetes"})).To(Succeed())
		out = nil
		for _, s := range l.Items {
			for _, e := range s.Endpoints {
				for _, a := range e.Addresses {
					for _, p := range s.Ports {
						out = append(out, net.JoinHostPort(a, strconv.Itoa(int(*p.Port))))
					}
				}
			}
		}
		g.Expect(out).NotTo(BeEmpty(), "the API server keeps the kubernetes EndpointSlice")
	}).Should(Succeed())
	return out
}
