package kubectlcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/buildinfo"
)

// result is what one run of the command left.
type result struct {
	code           int
	stdout, stderr string
}

// run runs kubectl netdiag with the suite's kubeconfig, as a shell would.
func run(ctx context.Context, args ...string) result {
	var out, errOut bytes.Buffer
	code := Main(ctx, append([]string{"--kubeconfig", kubeconfig}, args...), genericiooptions.IOStreams{Out: &out, ErrOut: &errOut})
	GinkgoWriter.Printf("kubectl netdiag %v: exit %d\n--- stdout\n%s--- stderr\n%s", args, code, out.String(), errOut.String())
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// syncBuffer is a buffer a spec reads while the command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var nsCounter atomic.Int64

// newNamespace creates a namespace for one spec, so that the specs' diagnoses stay apart.
func newNamespace(ctx context.Context, name string) string {
	GinkgoHelper()
	if name == "" {
		name = fmt.Sprintf("ask-%d", nsCounter.Add(1))
	}
	err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if !apierrors.IsAlreadyExists(err) {
		Expect(err).NotTo(HaveOccurred())
	}
	return name
}

// step is one status the stand-in controller writes.
type step func(st *diagv1alpha1.NetworkDiagnosisStatus)

func phase(p diagv1alpha1.Phase, collectors ...diagv1alpha1.CollectorPhase) step {
	return func(st *diagv1alpha1.NetworkDiagnosisStatus) {
		st.Phase = p
		st.Collectors = nil
		for i, c := range collectors {
			st.Collectors = append(st.Collectors, diagv1alpha1.CollectorStatus{Node: fmt.Sprintf("node-%d", i+1), Phase: c})
		}
	}
}

var (
	collected = diagv1alpha1.CollectorCollected
	running   = diagv1alpha1.CollectorRunning
)

// answered is the final status of web -> db: the controller's summary, a path of three hops
// and, when unreachable, the suspicion that decides it.
func answered(v diagv1alpha1.Verdict) step {
	return func(st *diagv1alpha1.NetworkDiagnosisStatus) {
		phase(diagv1alpha1.PhaseSucceeded, collected, collected)(st)
		st.Verdict = v
		st.SourceSummary = "pod/shop/web (10.244.1.5)"
		st.DestinationSummary = "service/shop/db (10.96.0.10)"
		st.Summary = "TCP from pod/shop/web to service/shop/db:5432 gets through"
		st.PacketPath = &diagv1alpha1.PacketPath{
			Hops: []diagv1alpha1.Hop{
				{ID: "pod:shop/web", Type: diagv1alpha1.HopPod, Name: "shop/web", Node: "node-1"},
				{ID: "node:node-1", Type: diagv1alpha1.HopNode, Name: "node-1"},
				{ID: "pod:shop/db", Type: diagv1alpha1.HopPod, Name: "shop/db", Node: "node-2", Failed: v == diagv1alpha1.VerdictUnreachable},
			},
			Links: []diagv1alpha1.Link{
				{From: "pod:shop/web", To: "node:node-1", Type: "veth", FromInterface: "eth0", ToInterface: "veth1", Packet: "TCP 10.244.1.5:40000 -> 10.96.0.10:5432"},
				{From: "node:node-1", To: "pod:shop/db", Type: "vxlan", FromInterface: "flannel.1", Packet: "TCP 10.244.1.5:40000 -> 10.244.2.7:5432"},
			},
			Branches: []diagv1alpha1.PathBranch{{
				To: "pod/shop/db", End: diagv1alpha1.BranchDelivered,
				Forward: []diagv1alpha1.BranchHop{
					{Hop: "pod/shop/web", Did: "out eth0", Packet: "TCP 10.244.1.5:40000 -> 10.96.0.10:5432"},
					{Hop: "node/node-1", Did: "in veth1, kube-proxy iptables DNAT to 10.244.2.7:5432, out flannel.1 (vxlan)"},
					{Hop: "pod/shop/db", Did: "in eth0, taken by a socket on 0.0.0.0:5432"},
				},
			}},
		}
		if v == diagv1alpha1.VerdictUnreachable {
			b := &st.PacketPath.Branches[0]
			b.End, b.Why = diagv1alpha1.BranchDropped, "IPTablesDrop"
			b.Forward[2] = diagv1alpha1.BranchHop{Hop: "pod/shop/db", Did: "in eth0, dropped by filter INPUT", Failed: true}
			st.Remedy = "remove the rule"
			st.Where, st.Why = "shop/db", "IPTablesDrop"
			st.Summary = "TCP from pod/shop/web to service/shop/db:5432 is dropped in pod shop/db"
			st.Suspicions = []diagv1alpha1.Suspicion{{Level: diagv1alpha1.LevelCritical, Reason: "IPTablesDrop", Node: "node-2", Pod: "shop/db",
				Rule: "-A INPUT -p tcp --dport 5432 -j DROP", Message: "An iptables rule drops the packet in pod shop/db: remove it"}}
		}
		setCondition(st, diagv1alpha1.ConditionReady, metav1.ConditionTrue, diagv1alpha1.ReasonFinished, "Finished")
	}
}

// timedOut is the final status of a diagnosis whose collectors never reported.
func timedOut(st *diagv1alpha1.NetworkDiagnosisStatus) {
	phase(diagv1alpha1.PhaseFailed, diagv1alpha1.CollectorFailed)(st)
	setCondition(st, diagv1alpha1.ConditionCollected, metav1.ConditionFalse, diagv1alpha1.ReasonTimeout,
		"node node-1: No snapshot from node node-1 within 10s (Collector pod is pending)")
	setCondition(st, diagv1alpha1.ConditionReady, metav1.ConditionFalse, diagv1alpha1.ReasonTimeout, "Collectors did not report in time")
}

func setCondition(st *diagv1alpha1.NetworkDiagnosisStatus, typ string, status metav1.ConditionStatus, reason, msg string) {
	st.Conditions = append(st.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg,
		LastTransitionTime: metav1.Now()})
}

// standIn plays the controller: it waits for one NetworkDiagnosis in ns (the one the
// command creates) and writes steps into its status, one every stepGap, so that the
// command's progress sees each. It hands the diagnosis, as created, to the channel it
// returns, and then each step's index once written.
func standIn(ctx context.Context, ns string, steps ...step) (created <-chan *diagv1alpha1.NetworkDiagnosis, wrote <-chan int) {
	const stepGap = 750 * time.Millisecond
	createdCh, wroteCh := make(chan *diagv1alpha1.NetworkDiagnosis, 1), make(chan int, len(steps))
	go func() {
		defer GinkgoRecover()
		var nd diagv1alpha1.NetworkDiagnosis
		Eventually(func(g Gomega) {
			list := &diagv1alpha1.NetworkDiagnosisList{}
			g.Expect(admin.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			g.Expect(list.Items).To(HaveLen(1))
			nd = list.Items[0]
		}).WithContext(ctx).Should(Succeed(), "the command creates one NetworkDiagnosis in %s", ns)
		createdCh <- nd.DeepCopy()
		for i, s := range steps {
			select {
			case <-ctx.Done():
				return
			case <-time.After(stepGap):
			}
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				live := &diagv1alpha1.NetworkDiagnosis{}
				if err := admin.Get(ctx, client.ObjectKeyFromObject(&nd), live); err != nil {
					return err
				}
				s(&live.Status)
				return admin.Status().Update(ctx, live)
			})
			if apierrors.IsNotFound(err) || ctx.Err() != nil {
				return // the command deleted it: an interrupt
			}
			Expect(err).NotTo(HaveOccurred(), "write step %d", i)
			wroteCh <- i
		}
	}()
	return createdCh, wroteCh
}

func expectGone(ctx context.Context, nd *diagv1alpha1.NetworkDiagnosis) {
	GinkgoHelper()
	Eventually(func() bool {
		return apierrors.IsNotFound(admin.Get(ctx, client.ObjectKeyFromObject(nd), &diagv1alpha1.NetworkDiagnosis{}))
	}).WithContext(ctx).Should(BeTrue(), "NetworkDiagnosis %s is deleted", nd.Name)
}

var _ = Describe("kubectl netdiag against an API server", func() {
	It("asks, shows progress, prints a Reachable report, exits 0 and deletes the diagnosis", func(ctx SpecContext) {
		ns := newNamespace(ctx, "")
		created, _ := standIn(ctx, ns,
			phase(diagv1alpha1.PhasePending),
			phase(diagv1alpha1.PhaseCollecting, running, running),
			phase(diagv1alpha1.PhaseCollecting, collected, running),
			phase(diagv1alpha1.PhaseDiagnosing, collected, collected),
			answered(diagv1alpha1.VerdictReachable))
		got := run(ctx, "pod/web", "svc/db:5432", "-n", ns)

		Expect(got.code).To(Equal(ExitReachable))
		Expect(got.stdout).To(HavePrefix("Verdict:  Reachable\nQuestion: pod/shop/web (10.244.1.5) -> service/shop/db (10.96.0.10) TCP 5432\n"))
		Expect(got.stdout).To(HaveSuffix("\nBranch 1 of 1: to pod/shop/db: Delivered\n" +
			"  forward  TCP 10.244.1.5:40000 -> 10.96.0.10:5432\n" +
			"    pod/shop/web  out eth0\n" +
			"    node/node-1   in veth1, kube-proxy iptables DNAT to 10.244.2.7:5432, out flannel.1 (vxlan)\n" +
			"    pod/shop/db   in eth0, taken by a socket on 0.0.0.0:5432\n"))
		Expect(got.stdout).NotTo(ContainSubstring("Suspicions:"))
		Expect(got.stderr).To(MatchRegexp(`(?m)^web-to-db-\w{5}: (waiting for the controller|Pending), `))
		Expect(got.stderr).To(MatchRegexp(`(?m)^web-to-db-\w{5}: Collecting, 1/2 collectors done, \d`))
		Expect(got.stderr).To(MatchRegexp(`(?m)^web-to-db-\w{5}: Succeeded, 2/2 collectors done, \d`))

		nd := <-created
		Expect(nd.GenerateName).To(Equal("web-to-db-"))
		Expect(nd.Spec.Source.Pod).To(Equal(&diagv1alpha1.PodReference{Name: "web"}))
		Expect(nd.Spec.Destination.Service).To(Equal(&diagv1alpha1.ServiceReference{Name: "db"}))
		Expect(nd.Spec.Port).To(Equal(ptr.To[int32](5432)))
		Expect(nd.Spec.Protocol).To(Equal(diagv1alpha1.ProtocolTCP))
		Expect(nd.Spec.TTLSecondsAfterFinished).To(Equal(ptr.To(cleanupTTL)))
		expectGone(ctx, nd)
	}, SpecTimeout(time.Minute))

	It("keeps an Unreachable diagnosis with --keep, exits 1, and get and describe read it back", func(ctx SpecContext) {
		ns := newNamespace(ctx, "shop")
		created, _ := standIn(ctx, ns, phase(diagv1alpha1.PhaseCollecting, running, running), answered(diagv1alpha1.VerdictUnreachable))
		// The namespace comes from the kubeconfig's context, as kubectl takes it.
		got := run(ctx, "--context", "shop", "pod/web", "svc/db", "--port", "5432", "--udp", "--probe", "--keep", "--timeout", "45s")

		Expect(got.code).To(Equal(ExitUnreachable))
		Expect(got.stdout).To(ContainSubstring("Verdict:  Unreachable\n"))
		Expect(got.stdout).To(ContainSubstring("Where:    shop/db\nWhy:      IPTablesDrop\n"))
		Expect(got.stdout).To(MatchRegexp(`Critical +IPTablesDrop +node-2 shop/db +An iptables rule drops the packet`))
		Expect(got.stdout).To(ContainSubstring("rule: -A INPUT -p tcp --dport 5432 -j DROP"))
		Expect(got.stdout).To(ContainSubstring("Do:       remove the rule\n"))
		Expect(got.stdout).To(ContainSubstring("Branch 1 of 1: Dropped at pod/shop/db (IPTablesDrop)\n"))
		Expect(got.stdout).To(MatchRegexp(`\n    pod/shop/db +✗ stops here\n +in eth0, dropped by filter INPUT\n`))
		nd := <-created
		Expect(got.stderr).To(ContainSubstring("Kept networkdiagnosis/" + nd.Name + " in namespace shop"))
		Expect(nd.Spec.Protocol).To(Equal(diagv1alpha1.ProtocolUDP))
		Expect(nd.Spec.Probe).To(BeTrue())
		Expect(nd.Spec.Timeout).To(Equal(&metav1.Duration{Duration: 45 * time.Second}))
		Expect(nd.Spec.TTLSecondsAfterFinished).To(BeNil(), "a kept diagnosis is not deleted by its TTL")
		Consistently(func() error {
			return admin.Get(ctx, client.ObjectKeyFromObject(nd), &diagv1alpha1.NetworkDiagnosis{})
		}).WithContext(ctx).WithTimeout(time.Second).Should(Succeed(), "--keep keeps the diagnosis")

		row := run(ctx, "get", nd.Name, "-n", ns)
		Expect(row.code).To(Equal(ExitUnreachable))
		Expect(row.stdout).To(MatchRegexp(`^NAME +SOURCE +DESTINATION +PORT +PHASE +VERDICT +WHERE +WHY +AGE\n` +
			nd.Name + ` +pod/shop/web \(10\.244\.1\.5\) +service/shop/db \(10\.96\.0\.10\) +5432 +Succeeded +Unreachable +shop/db +IPTablesDrop +\d+s\n$`))

		Expect(admin.Create(ctx, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{GenerateName: "ev-", Namespace: ns},
			InvolvedObject: corev1.ObjectReference{Kind: "NetworkDiagnosis", Name: nd.Name, Namespace: ns, UID: nd.UID},
			Type:           corev1.EventTypeNormal, Reason: "Diagnosed", Message: "Verdict Unreachable", LastTimestamp: metav1.Now(),
		})).To(Succeed())
		desc := run(ctx, "describe", nd.Name, "-n", ns)
		Expect(desc.code).To(Equal(ExitUnreachable))
		Expect(desc.stdout).To(HavePrefix("Name:      " + nd.Name + "\nNamespace: shop\n"))
		Expect(desc.stdout).To(ContainSubstring("Verdict:  Unreachable\n"))
		Expect(desc.stdout).To(MatchRegexp(`Collectors:\n  node-1 +Collected`))
		Expect(desc.stdout).To(MatchRegexp(`Conditions:\n  Ready +True +Finished +Finished\n`))
		Expect(desc.stdout).To(MatchRegexp(`Events:\n  Normal +Diagnosed +\d+s +Verdict Unreachable\n$`))

		js := run(ctx, "get", nd.Name, "-n", ns, "-o", "json")
		Expect(js.code).To(Equal(ExitUnreachable))
		var back diagv1alpha1.NetworkDiagnosis
		Expect(json.Unmarshal([]byte(js.stdout), &back)).To(Succeed())
		Expect(back.Kind).To(Equal("NetworkDiagnosis"))
		Expect(back.Status.Why).To(Equal("IPTablesDrop"))
		Expect(back.ManagedFields).To(BeEmpty())

		for format, start := range map[string]string{"mermaid": "flowchart LR", "dot": "digraph", "svg": "<svg"} {
			pic := run(ctx, "get", nd.Name, "-n", ns, "-o", format)
			Expect(pic.code).To(Equal(ExitUnreachable), format)
			Expect(pic.stdout).To(ContainSubstring(start), "-o %s draws the path", format)
		}

		missing := run(ctx, "get", "nobody", "-n", ns)
		Expect(missing.code).To(Equal(ExitNoAnswer))
		Expect(missing.stderr).To(ContainSubstring(`error: get NetworkDiagnosis shop/nobody: networkdiagnoses.diagnosis.netdiag.dev "nobody" not found`))
	}, SpecTimeout(time.Minute))

	It("prints why a diagnosis that timed out failed and exits 2", func(ctx SpecContext) {
		ns := newNamespace(ctx, "")
		created, _ := standIn(ctx, ns, phase(diagv1alpha1.PhaseCollecting, diagv1alpha1.CollectorPending), timedOut)
		got := run(ctx, "node/node-1", "ip/10.0.0.7", "--icmp", "--timeout", "10s", "-n", ns)

		Expect(got.code).To(Equal(ExitNoAnswer))
		Expect(got.stdout).To(HavePrefix("Verdict:  none (the diagnosis failed)\nQuestion: node/node-1 -> ip/10.0.0.7 ICMP\n"))
		Expect(got.stdout).To(MatchRegexp(`Conditions:\n  Collected +False +Timeout +node node-1: No snapshot from node node-1 within 10s`))
		Expect(got.stderr).To(MatchRegexp(`(?m)^node-1-to-10-0-0-7-\w{5}: Failed, 1/1 collectors done`))
		expectGone(ctx, <-created)
	}, SpecTimeout(time.Minute))

	It("deletes the diagnosis and exits 2 when interrupted", func(ctx SpecContext) {
		ns := newNamespace(ctx, "")
		created, wrote := standIn(ctx, ns, phase(diagv1alpha1.PhaseCollecting, running), answered(diagv1alpha1.VerdictReachable))
		cmdCtx, interrupt := context.WithCancel(ctx)
		defer interrupt()
		go func() {
			// Ctrl-C once the diagnosis is under way, before it has an answer.
			select {
			case <-wrote:
				interrupt()
			case <-ctx.Done():
			}
		}()
		got := run(cmdCtx, "pod/web", "pod/db:5432", "-n", ns)

		Expect(got.code).To(Equal(ExitNoAnswer))
		Expect(got.stdout).To(BeEmpty(), "no report for a question not answered")
		Expect(got.stderr).To(MatchRegexp(`error: interrupted before NetworkDiagnosis ask-\d+/web-to-db-\w{5} finished`))
		expectGone(ctx, <-created)
	}, SpecTimeout(time.Minute))

	It("says when no controller picks the diagnosis up", func(ctx SpecContext) {
		ns := newNamespace(ctx, "")
		created, _ := standIn(ctx, ns) // writes no status, as when netdiag is not installed
		cmdCtx, interrupt := context.WithCancel(ctx)
		defer interrupt()
		var errOut syncBuffer
		done := make(chan int, 1)
		go func() {
			defer GinkgoRecover()
			done <- Main(cmdCtx, []string{"--kubeconfig", kubeconfig, "pod/web", "svc/db:5432", "-n", ns}, genericiooptions.IOStreams{Out: io.Discard, ErrOut: &errOut})
		}()
		nd := <-created
		Eventually(errOut.String).WithContext(ctx).WithTimeout(noControllerAfter + 10*time.Second).Should(
			ContainSubstring("No controller has picked up NetworkDiagnosis " + ns + "/" + nd.Name + " in 15s: is netdiag installed"))
		interrupt()
		Expect(<-done).To(Equal(ExitNoAnswer))
		expectGone(ctx, nd)
	}, SpecTimeout(time.Minute))

	It("waits with get --watch for a diagnosis someone else created", func(ctx SpecContext) {
		ns := newNamespace(ctx, "")
		nd, err := newDiagnosis([]string{"pod/web", "pod/api:8080"}, questionFlags{keep: true}, ns)
		Expect(err).NotTo(HaveOccurred())
		standIn(ctx, ns, phase(diagv1alpha1.PhaseCollecting, running), answered(diagv1alpha1.VerdictReachable))
		Expect(admin.Create(ctx, nd)).To(Succeed())

		got := run(ctx, "get", nd.Name, "--watch", "-o", "yaml", "-n", ns)
		Expect(got.code).To(Equal(ExitReachable))
		var back diagv1alpha1.NetworkDiagnosis
		Expect(yaml.Unmarshal([]byte(got.stdout), &back)).To(Succeed())
		Expect(back.Status.Phase).To(Equal(diagv1alpha1.PhaseSucceeded))
		Expect(back.Status.Verdict).To(Equal(diagv1alpha1.VerdictReachable))
		Expect(got.stderr).To(ContainSubstring(nd.Name + ": Succeeded, 2/2 collectors done"))
		Expect(admin.Get(ctx, client.ObjectKeyFromObject(nd), &diagv1alpha1.NetworkDiagnosis{})).To(Succeed(), "get deletes nothing")
	}, SpecTimeout(time.Minute))

	It("refuses bad input before it creates anything", func(ctx SpecContext) {
		ns := newNamespace(ctx, "")
		for args, want := range map[string][]string{
			"TCP needs a port":            {"pod/web", "svc/db"},
			`--output "png": want text, `: {"pod/web", "svc/db:5432", "-o", "png"},
			"a service sends no traffic":  {"svc/web", "pod/db:80"},
			`unknown flag: --tcp`:         {"pod/web", "svc/db:5432", "--tcp"},
		} {
			got := run(ctx, append(want, "-n", ns)...)
			Expect(got.code).To(Equal(ExitNoAnswer), "%v", want)
			Expect(got.stderr).To(ContainSubstring(args), "%v", want)
			Expect(got.stdout).To(BeEmpty())
		}
		list := &diagv1alpha1.NetworkDiagnosisList{}
		Expect(admin.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		Expect(list.Items).To(BeEmpty())
	})

	It("says which build it is, with the Kubernetes libraries it speaks with", func(ctx SpecContext) {
		// A test binary records no dependencies: the real one is built, stamped as the
		// Makefile stamps it.
		bin := pluginBinary(ctx)
		out, err := exec.CommandContext(ctx, bin, "version", "-o", "json").Output()
		Expect(err).NotTo(HaveOccurred())
		var info buildinfo.Info
		Expect(json.Unmarshal(out, &info)).To(Succeed(), string(out))
		Expect(info.Version).To(Equal("v0.9.0-test"))
		Expect(info.Commit).To(Equal("0123abc"))
		Expect(info.GoVersion).To(Equal(runtime.Version()))
		// The versions go.mod pins, as linked into the binary.
		Expect(info.Libraries).To(HaveKeyWithValue("k8s.io/client-go", "v0.37.2"))
		Expect(info.Libraries).To(HaveKeyWithValue("k8s.io/cli-runtime", "v0.37.2"))
		Expect(info.Libraries).To(HaveKeyWithValue("sigs.k8s.io/controller-runtime", "v0.25.2"))

		got := run(ctx, "version")
		Expect(got.code).To(Equal(0))
		Expect(got.stdout).To(HavePrefix("Version:    dev\nCommit:     unknown\nGo:         " + runtime.Version() + "\n"))
	}, SpecTimeout(3*time.Minute))

	It("redraws one progress line on a terminal", func(ctx SpecContext) {
		ns := newNamespace(ctx, "")
		standIn(ctx, ns, phase(diagv1alpha1.PhaseCollecting, running), answered(diagv1alpha1.VerdictReachable))
		// script(1) runs the binary on a pseudo-terminal, as a person's shell does.
		cmd := exec.CommandContext(ctx, "script", "-qec",
			strings.Join([]string{pluginBinary(ctx), "--kubeconfig", kubeconfig, "pod/web", "svc/db:5432", "-n", ns}, " "), "/dev/null")
		out, err := cmd.Output()
		Expect(err).NotTo(HaveOccurred(), "exit 0 through script(1):\n%s", out)
		Expect(string(out)).To(MatchRegexp(`\r\x1b\[Kweb-to-db-\w{5}: Collecting, 0/1 collectors done, [^\n]*\r\x1b\[Kweb-to-db-\w{5}: Succeeded, 2/2 collectors done, [^\n]*\r?\nVerdict:  Reachable`))
	}, SpecTimeout(3*time.Minute))

	It("deletes the diagnosis when the binary gets Ctrl-C", func(ctx SpecContext) {
		ns := newNamespace(ctx, "")
		created, _ := standIn(ctx, ns)
		cmd := exec.CommandContext(ctx, pluginBinary(ctx), "--kubeconfig", kubeconfig, "pod/web", "svc/db:5432", "-n", ns)
		var errOut bytes.Buffer
		cmd.Stderr = &errOut
		Expect(cmd.Start()).To(Succeed())
		nd := <-created
		Expect(cmd.Process.Signal(os.Interrupt)).To(Succeed())
		err := cmd.Wait()
		var exit *exec.ExitError
		Expect(errors.As(err, &exit)).To(BeTrue(), "the binary exits non-zero: %v", err)
		Expect(exit.ExitCode()).To(Equal(ExitNoAnswer))
		Expect(errOut.String()).To(ContainSubstring("error: interrupted before NetworkDiagnosis " + ns + "/" + nd.Name + " finished"))
		expectGone(ctx, nd)
	}, SpecTimeout(3*time.Minute))
})

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// pluginBinary builds ./cmd/kubectl-netdiag once for the suite, stamped as the Makefile
// stamps it.
func pluginBinary(ctx context.Context) string {
	GinkgoHelper()
	buildOnce.Do(func() {
		binPath = filepath.Join(os.TempDir(), fmt.Sprintf("kubectl-netdiag-test-%d", os.Getpid()))
		build := exec.CommandContext(ctx, "go", "build", "-o", binPath,
			"-ldflags", "-X github.com/netdiag/netdiag/internal/buildinfo.version=v0.9.0-test -X github.com/netdiag/netdiag/internal/buildinfo.commit=0123abc",
			"./cmd/kubectl-netdiag")
		build.Dir = repoRoot
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/kubectl-netdiag: %w\n%s", err, out)
		}
	})
	Expect(buildErr).NotTo(HaveOccurred())
	return binPath
}
