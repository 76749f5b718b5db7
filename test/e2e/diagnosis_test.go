package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/test/lab"
)

// DiagnosisBuilder builds a NetworkDiagnosis in the shop namespace:
// MakeDiagnosis("d").FromPod("web").ToService("db", 5432).Obj().
type DiagnosisBuilder struct{ nd diagv1alpha1.NetworkDiagnosis }

func MakeDiagnosis(name string) *DiagnosisBuilder {
	return &DiagnosisBuilder{nd: diagv1alpha1.NetworkDiagnosis{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: shopNamespace, Labels: map[string]string{"e2e": "true"}},
		Spec:       diagv1alpha1.NetworkDiagnosisSpec{Protocol: diagv1alpha1.ProtocolTCP},
	}}
}

func (b *DiagnosisBuilder) FromPod(name string) *DiagnosisBuilder {
	b.nd.Spec.Source = diagv1alpha1.Source{Pod: &diagv1alpha1.PodReference{Name: name}}
	return b
}

func (b *DiagnosisBuilder) FromNode(name string) *DiagnosisBuilder {
	b.nd.Spec.Source = diagv1alpha1.Source{Node: &diagv1alpha1.NodeReference{Name: name}}
	return b
}

func (b *DiagnosisBuilder) FromIP(ip netip.Addr) *DiagnosisBuilder {
	b.nd.Spec.Source = diagv1alpha1.Source{IP: ip.String()}
	return b
}

func (b *DiagnosisBuilder) ToPod(name string, port int32) *DiagnosisBuilder {
	b.nd.Spec.Destination = diagv1alpha1.Destination{Pod: &diagv1alpha1.PodReference{Name: name}}
	return b.Port(port)
}

func (b *DiagnosisBuilder) ToService(name string, port int32) *DiagnosisBuilder {
	b.nd.Spec.Destination = diagv1alpha1.Destination{Service: &diagv1alpha1.ServiceReference{Name: name}}
	return b.Port(port)
}

func (b *DiagnosisBuilder) ToIP(ip netip.Addr, port int32) *DiagnosisBuilder {
	b.nd.Spec.Destination = diagv1alpha1.Destination{IP: ip.String()}
	return b.Port(port)
}

func (b *DiagnosisBuilder) Port(port int32) *DiagnosisBuilder {
	if port > 0 {
		b.nd.Spec.Port = ptr.To(port)
	}
	return b
}

func (b *DiagnosisBuilder) Protocol(p diagv1alpha1.Protocol) *DiagnosisBuilder {
	b.nd.Spec.Protocol = p
	if p == diagv1alpha1.ProtocolICMP {
		b.nd.Spec.Port = nil
	}
	return b
}

// PacketSize asks about packets of size bytes.
func (b *DiagnosisBuilder) PacketSize(size int32, dontFragment bool) *DiagnosisBuilder {
	b.nd.Spec.PacketSize, b.nd.Spec.DontFragment = ptr.To(size), dontFragment
	return b
}

func (b *DiagnosisBuilder) Plugin(name string) *DiagnosisBuilder {
	b.nd.Spec.NetworkPlugin = name
	return b
}

func (b *DiagnosisBuilder) Obj() *diagv1alpha1.NetworkDiagnosis { return b.nd.DeepCopy() }

// path is one question asked two ways: of the lab with real packets, and of netdiag.
type path struct {
	nd    *diagv1alpha1.NetworkDiagnosis
	probe lab.ProbeSpec
}

var ndCounter atomic.Int64

// uniqueName keeps the names of diagnoses apart across the specs that share a lab.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, ndCounter.Add(1))
}

// paths builds the questions the specs ask, with the shop's live addresses.
type paths struct {
	e   *env
	ctx context.Context
}

func (p paths) probeFromPod(pod string, to netip.Addr, port uint16, proto lab.Protocol) lab.ProbeSpec {
	return lab.ProbeSpec{From: p.e.podNetns(pod), To: netip.AddrPortFrom(to, port), Protocol: proto}
}

// podToPod is TCP from a shop pod to another's container port.
func (p paths) podToPod(from, to string, port uint16) path {
	return path{
		nd:    MakeDiagnosis(uniqueName(from+"-to-"+to)).FromPod(from).ToPod(to, int32(port)).Obj(),
		probe: p.probeFromPod(from, p.e.podIP(p.ctx, to), port, lab.TCP),
	}
}

// podToService is TCP or UDP from a shop pod to a Service's cluster IP and port.
func (p paths) podToService(from, svc string, port uint16, proto lab.Protocol) path {
	nd := MakeDiagnosis(uniqueName(from+"-to-svc-"+svc)).FromPod(from).ToService(svc, int32(port)).
		Protocol(diagv1alpha1.Protocol(proto)).Obj()
	return path{nd: nd, probe: p.probeFromPod(from, p.e.clusterIP(p.ctx, svc), port, proto)}
}

// externalToNodePort is TCP from the lab's external host to a node's NodePort.
func (p paths) externalToNodePort(node string, port uint16) path {
	ext, n := p.e.lab.External(), p.e.node(node)
	return path{
		nd:    MakeDiagnosis(uniqueName("ext-to-"+node)).FromIP(ext.IP).ToIP(n.IP, int32(port)).Obj(),
		probe: lab.ProbeSpec{From: ext.Netns, To: netip.AddrPortFrom(n.IP, port), Protocol: lab.TCP},
	}
}

// nodeToPod is TCP from a node's own namespace to a shop pod.
func (p paths) nodeToPod(node, to string, port uint16) path {
	return path{
		nd:    MakeDiagnosis(uniqueName(node+"-to-"+to)).FromNode(node).ToPod(to, int32(port)).Obj(),
		probe: lab.ProbeSpec{From: p.e.node(node).Netns, To: netip.AddrPortFrom(p.e.podIP(p.ctx, to), port), Protocol: lab.TCP},
	}
}

// podToInternet is TCP from a shop pod to the address that stands for the internet.
func (p paths) podToInternet(from string, port uint16) path {
	ip := p.e.lab.External().InternetIP
	return path{
		nd:    MakeDiagnosis(uniqueName(from+"-to-internet")).FromPod(from).ToIP(ip, int32(port)).Obj(),
		probe: p.probeFromPod(from, ip, port, lab.TCP),
	}
}

// want is what a spec expects of the lab and of the diagnosis.
type want struct {
	verdict diagv1alpha1.Verdict
	// reason, node and pod name the suspicion that must explain an Unreachable verdict
	// (level Critical or above), or the Warning a Reachable one must carry.
	reason model.Reason
	node   string
	pod    string
	// iface, when set, is the interface the suspicion must name.
	iface string
}

func reachable() want { return want{verdict: diagv1alpha1.VerdictReachable} }

func unreachable(reason model.Reason, node string) want {
	return want{verdict: diagv1alpha1.VerdictUnreachable, reason: reason, node: node}
}

func (w want) inPod(pod string) want {
	w.pod = shopNamespace + "/" + pod
	return w
}

func (w want) onInterface(name string) want {
	w.iface = name
	return w
}

// probeUntil probes until the lab answers as wanted or the deadline passes, and returns the
// last answer. kube-proxy and the pod network program asynchronously, so a path that should
// work may need a moment after a change; one that should not gets a few tries too, since a
// fault may take a moment to bite (a neighbour entry still valid).
func probeUntil(ctx context.Context, spec lab.ProbeSpec, reachable bool, within time.Duration) lab.ProbeResult {
	if spec.Timeout == 0 {
		spec.Timeout = time.Second
	}
	deadline := time.Now().Add(within)
	for {
		got := lab.Probe(ctx, spec)
		if got.Reachable == reachable || time.Now().After(deadline) || ctx.Err() != nil {
			return got
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// expectTruth checks that the lab does what the spec says: real packets get through, or
// they do not. A spec whose fault does not break the path (or whose healthy path is broken)
// tests nothing, so this fails before netdiag is asked.
func expectTruth(ctx context.Context, p path, reachable bool) lab.ProbeResult {
	GinkgoHelper()
	got := probeUntil(ctx, p.probe, reachable, 10*time.Second)
	Expect(got.Reachable).To(Equal(reachable),
		"the lab's real packets %s %s -> %s: %s (want reachable=%v)", p.probe.Protocol, p.probe.From, p.probe.To, got, reachable)
	return got
}

// diagnose creates the diagnosis through the API, waits for its final phase and returns it;
// the diagnosis is deleted when the spec ends.
func (e *env) diagnose(ctx context.Context, nd *diagv1alpha1.NetworkDiagnosis) *diagv1alpha1.NetworkDiagnosis {
	GinkgoHelper()
	e.managerRunning()
	Expect(e.client.Create(ctx, nd)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(e.client.Delete(ctx, nd))).To(Succeed())
	})
	got := &diagv1alpha1.NetworkDiagnosis{}
	Eventually(func(g Gomega) {
		g.Expect(e.client.Get(ctx, client.ObjectKeyFromObject(nd), got)).To(Succeed())
		g.Expect(got.Status.Phase.Finished()).To(BeTrue(), "phase %s: %s", got.Status.Phase, conditionsOf(got))
	}).WithContext(ctx).WithTimeout(90*time.Second).Should(Succeed(), "diagnosis %s reaches a final phase", nd.Name)
	return got
}

// expectDiagnosis asks the lab first, then netdiag, and checks that netdiag agrees with the
// lab and names what the spec broke.
func (e *env) expectDiagnosis(ctx context.Context, p path, w want) *diagv1alpha1.NetworkDiagnosis {
	GinkgoHelper()
	truth := expectTruth(ctx, p, w.verdict == diagv1alpha1.VerdictReachable)
	nd := e.diagnose(ctx, p.nd)
	report := describe(nd, truth)
	Expect(nd.Status.Phase).To(Equal(diagv1alpha1.PhaseSucceeded), report)
	Expect(nd.Status.Verdict).To(Equal(w.verdict), report)

	switch w.verdict {
	case diagv1alpha1.VerdictReachable:
		for _, s := range nd.Status.Suspicions {
			if w.reason != "" && s.Reason == string(w.reason) {
				continue
			}
			Expect(s.Level).To(Equal(diagv1alpha1.LevelInfo), "a reachable path carries no suspicion of level Warning or above\n%s", report)
		}
		if w.reason != "" {
			Expect(nd.Status.Suspicions).To(ContainElement(suspicionMatching(w, diagv1alpha1.LevelWarning)), report)
		}
	case diagv1alpha1.VerdictUnreachable:
		Expect(nd.Status.Suspicions).To(ContainElement(suspicionMatching(w, diagv1alpha1.LevelCritical)), report)
	}

	// The fault must still have been in place while the collectors read the state.
	again := lab.Probe(ctx, withTimeout(p.probe, time.Second))
	Expect(again.Reachable).To(Equal(truth.Reachable), "the lab changed while the diagnosis ran: %s, then %s", truth, again)
	return nd
}

func withTimeout(s lab.ProbeSpec, d time.Duration) lab.ProbeSpec {
	s.Timeout = d
	return s
}

// suspicionMatching matches a suspicion with w's reason, node, pod and interface, of at
// least level min.
func suspicionMatching(w want, min diagv1alpha1.SuspicionLevel) OmegaMatcher {
	levelOK := func(l diagv1alpha1.SuspicionLevel) bool {
		if min == diagv1alpha1.LevelWarning {
			return l == diagv1alpha1.LevelWarning
		}
		return l == diagv1alpha1.LevelCritical || l == diagv1alpha1.LevelFatal
	}
	return Satisfy(func(s diagv1alpha1.Suspicion) bool {
		return s.Reason == string(w.reason) && s.Node == w.node && levelOK(s.Level) &&
			(w.pod == "" || s.Pod == w.pod) && (w.iface == "" || s.Interface == w.iface)
	})
}

func conditionsOf(nd *diagv1alpha1.NetworkDiagnosis) string {
	var parts []string
	for _, c := range nd.Status.Conditions {
		parts = append(parts, fmt.Sprintf("%s=%s (%s: %s)", c.Type, c.Status, c.Reason, c.Message))
	}
	return strings.Join(parts, "; ")
}

// describe prints what a person needs to judge a failed spec: the lab's answer and the
// diagnosis's status.
func describe(nd *diagv1alpha1.NetworkDiagnosis, truth lab.ProbeResult) string {
	status, _ := json.MarshalIndent(nd.Status, "", "  ")
	return fmt.Sprintf("lab probe: %s\nNetworkDiagnosis %s/%s status:\n%s", truth, nd.Namespace, nd.Name, status)
}
