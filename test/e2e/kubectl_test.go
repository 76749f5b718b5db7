package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/test/lab"
)

// plugin is the kubectl-netdiag binary the specs below drive, as a user's shell runs it:
// through kubectl, which finds it on the PATH, when the repo's bin/k8s has a kubectl.
type plugin struct {
	bin        string
	kubeconfig string
	// kubectl is the kubectl binary, or empty to run the plugin directly.
	kubectl string
}

// pluginRun is what one run of the plugin left.
type pluginRun struct {
	code           int
	stdout, stderr string
}

// buildPlugin builds ./cmd/kubectl-netdiag into a temporary folder.
func buildPlugin(ctx context.Context) string {
	GinkgoHelper()
	bin := filepath.Join(GinkgoT().TempDir(), "kubectl-netdiag")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/kubectl-netdiag")
	build.Dir = repoRoot
	out, err := build.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "build kubectl-netdiag:\n%s", out)
	return bin
}

func (p plugin) run(ctx context.Context, args ...string) pluginRun {
	GinkgoHelper()
	args = append([]string{"--kubeconfig", p.kubeconfig}, args...)
	cmd := exec.CommandContext(ctx, p.bin, args...)
	if p.kubectl != "" {
		cmd = exec.CommandContext(ctx, p.kubectl, append([]string{"netdiag"}, args...)...)
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(p.bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		Expect(err).NotTo(HaveOccurred(), "run kubectl-netdiag")
	}
	GinkgoWriter.Printf("%s %v: exit %d\n--- stdout\n%s--- stderr\n%s", cmd.Args[0], cmd.Args[1:], code, out.String(), errOut.String())
	return pluginRun{code: code, stdout: out.String(), stderr: errOut.String()}
}

// askedByPlugin lists the diagnoses the plugin created in the shop and did not delete.
func (e *env) askedByPlugin(ctx context.Context) []diagv1alpha1.NetworkDiagnosis {
	GinkgoHelper()
	list := &diagv1alpha1.NetworkDiagnosisList{}
	Expect(e.client.List(ctx, list, client.InNamespace(shopNamespace),
		client.MatchingLabels{"app.kubernetes.io/created-by": "kubectl-netdiag"})).To(Succeed())
	return list.Items
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

var _ = Describe("kubectl netdiag on the lab", Ordered, ContinueOnFailure, Label("kubectl", string(lab.ModeFlannelVXLAN)), func() {
	var (
		e  *env
		kn plugin
	)
	BeforeAll(func(ctx SpecContext) {
		requireLab()
		bin := buildPlugin(ctx)
		e = startEnv(ctx, "ndekc", lab.ModeFlannelVXLAN, lab.ProxyIPTables)
		DeferCleanup(func(ctx SpecContext) { e.stop(ctx) })
		kn = plugin{bin: bin, kubeconfig: e.lab.Kubeconfig()}
		if k := filepath.Join(repoRoot, "bin", "k8s", "current", "kubectl"); fileExists(k) {
			kn.kubectl = k
		}
	}, NodeTimeout(4*time.Minute))

	BeforeEach(func() {
		DeferCleanup(func(ctx SpecContext) { e.expectHealthy(ctx) })
	})

	It("answers Reachable for a healthy ClusterIP path, exits 0 and leaves nothing behind", func(ctx SpecContext) {
		expectTruth(ctx, paths{e: e, ctx: ctx}.podToService("web", "db", 5432, lab.TCP), true)
		e.managerRunning()
		got := kn.run(ctx, "pod/web", "svc/db:5432", "-n", shopNamespace)

		Expect(got.code).To(Equal(0), got.stderr)
		Expect(got.stdout).To(MatchRegexp(`^Verdict:  Reachable\nQuestion: pod/shop/web \(\S+\) -> service/shop/db \(\S+\) TCP 5432\n`))
		Expect(got.stdout).To(MatchRegexp(`\nBranch 1 of 1: to pod/shop/db(, 100% of new connections)?: Delivered\n  forward  TCP \S+ -> \S+:5432\n    pod/shop/web +out eth0\n`))
		Expect(got.stdout).To(MatchRegexp(`DNAT to \S+:5432`), "the service's choice is shown where it happens")
		Expect(got.stdout).To(MatchRegexp(`\n  reply  TCP \S+:5432 -> \S+\n    pod/shop/db +out eth0\n(.*\n)*    pod/shop/web +in eth0, reply delivered\n`),
			"the path reaches the service's one endpoint, and the reply goes back from there")
		Expect(got.stdout).NotTo(ContainSubstring("✗ stops here"))
		// The phases between are shown as the watch sees them; a fast answer may skip them.
		Expect(got.stderr).To(MatchRegexp(`(?m)^web-to-db-\w{5}: Succeeded, 2/2 collectors done, `))
		Eventually(func() []diagv1alpha1.NetworkDiagnosis { return e.askedByPlugin(ctx) }).WithContext(ctx).WithTimeout(30*time.Second).
			Should(BeEmpty(), "the plugin deletes what it asked, and the controller its collectors")
	}, SpecTimeout(2*time.Minute))

	It("answers Unreachable for a DROP in the destination pod, names it, exits 1 and keeps it with --keep", func(ctx SpecContext) {
		e.iptablesInsert(ctx, e.podNetns("db"), "INPUT", "-p", "tcp", "--dport", "5432", "-j", "DROP")
		expectTruth(ctx, paths{e: e, ctx: ctx}.podToPod("web", "db", 5432), false)
		got := kn.run(ctx, "pod/web", "pod/db:5432", "-n", shopNamespace, "--keep")

		Expect(got.code).To(Equal(1), got.stderr)
		Expect(got.stdout).To(HavePrefix("Verdict:  Unreachable\n"))
		Expect(got.stdout).To(ContainSubstring("\nWhy:      IPTablesDrop\n"))
		Expect(got.stdout).To(MatchRegexp(`(?m)^  Critical +IPTablesDrop +node-2 shop/db\b`))
		Expect(got.stdout).To(MatchRegexp(`rule: .*-A INPUT .*--dport 5432 -j DROP`))
		kept := e.askedByPlugin(ctx)
		Expect(kept).To(HaveLen(1))
		nd := &kept[0]
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(e.client.Delete(ctx, nd))).To(Succeed()) })
		Expect(got.stderr).To(ContainSubstring("Kept networkdiagnosis/" + nd.Name + " in namespace shop"))
		Expect(nd.Status.Verdict).To(Equal(diagv1alpha1.VerdictUnreachable))

		row := kn.run(ctx, "get", nd.Name, "-n", shopNamespace)
		Expect(row.code).To(Equal(1))
		Expect(row.stdout).To(MatchRegexp(nd.Name + ` +pod/shop/web \(\S+\) +pod/shop/db \(\S+\) +5432 +Succeeded +Unreachable +\S+ +IPTablesDrop `))
		desc := kn.run(ctx, "describe", nd.Name, "-n", shopNamespace)
		Expect(desc.code).To(Equal(1))
		Expect(desc.stdout).To(MatchRegexp(`Collectors:\n(  node-\d +Collected *\n){2}`))
		Expect(desc.stdout).To(MatchRegexp(`Events:\n(.*\n)*  Normal +\w+`), "the controller's events are listed")
	}, SpecTimeout(2*time.Minute))

	It("gives up on a node whose collector never runs after a short --timeout, says why, and exits 2", func(ctx SpecContext) {
		// A Node the lab runs no kubelet for: its collector pod is never started.
		ghost := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-gone", Labels: map[string]string{"kubernetes.io/hostname": "node-gone"}}}
		e.create(ctx, ghost)
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(e.client.Delete(ctx, ghost))).To(Succeed()) })
		// The lab's controller manager writes to a new Node too: update it as it is now.
		Eventually(func() error {
			if err := e.client.Get(ctx, client.ObjectKeyFromObject(ghost), ghost); err != nil {
				return err
			}
			ghost.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "198.51.100.77"}}
			return e.client.Status().Update(ctx, ghost)
		}).WithContext(ctx).WithTimeout(30*time.Second).Should(Succeed(), "give node-gone an address")

		started := time.Now()
		got := kn.run(ctx, "node/node-gone", "ip/"+e.lab.External().InternetIP.String()+":443", "--timeout", "10s")
		took := time.Since(started)

		Expect(got.code).To(Equal(2), got.stderr)
		Expect(got.stdout).To(HavePrefix("Verdict:  none (the diagnosis failed)\n"))
		Expect(got.stdout).To(MatchRegexp(`Conditions:\n(.*\n)*  Collected +False +Timeout +node node-gone: No snapshot from node node-gone within 10s`))
		Expect(got.stderr).To(MatchRegexp(`(?m)^node-gone-to-\S+: Collecting, 0/1 collectors done, `))
		Expect(got.stderr).To(MatchRegexp(`(?m)^node-gone-to-\S+: Failed, 1/1 collectors done, `))
		Expect(took).To(BeNumerically("<", 40*time.Second), "the answer comes at the timeout, not at the plugin's own limit")
		Eventually(func() []diagv1alpha1.NetworkDiagnosis { return e.askedByPlugin(ctx) }).WithContext(ctx).WithTimeout(30 * time.Second).Should(BeEmpty())
		// With no kubelet to confirm it stopped, a deleted pod stays until its node goes, as
		// on a real cluster: the controller can only ask.
		Eventually(func(g Gomega) {
			pods := &corev1.PodList{}
			g.Expect(e.client.List(ctx, pods, client.InNamespace(controllerNamespace))).To(Succeed())
			for _, p := range pods.Items {
				if p.Spec.NodeName == ghost.Name {
					g.Expect(p.DeletionTimestamp).NotTo(BeNil(), "collector pod %s is being deleted", p.Name)
				}
			}
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	}, SpecTimeout(2*time.Minute))

	It("refuses a question the API would refuse, before anything is created", func(ctx SpecContext) {
		got := kn.run(ctx, "pod/web", "ip/169.254.169.254:80", "-n", shopNamespace)
		Expect(got.code).To(Equal(2))
		Expect(got.stderr).To(ContainSubstring("169.254.169.254 is not a unicast address"))
		Expect(e.askedByPlugin(ctx)).To(BeEmpty())
	}, SpecTimeout(time.Minute))
})
