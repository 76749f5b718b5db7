package e2e

import (
	"context"
	"encoding/json"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/collector"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/test/lab"
)

// ToName names the destination by a DNS name.
func (b *DiagnosisBuilder) ToName(name string, port int32) *DiagnosisBuilder {
	b.nd.Spec.Destination = diagv1alpha1.Destination{Name: name}
	return b.Port(port)
}

// Names are diagnosed on a lab that runs a real CoreDNS (on node-2, the web pod's node is
// node-1, so the way to it crosses the nodes), and each answer is first checked against the
// real queries web's resolver sends.
var _ = Describe("Names and the DNS path", Ordered, ContinueOnFailure, Label("dns"), func() {
	var (
		e  *env
		kn plugin
	)
	BeforeAll(func(ctx SpecContext) {
		requireLab()
		bin := buildPlugin(ctx)
		e = startEnv(ctx, "ndedns", lab.ModeFlannelVXLAN, lab.ProxyIPTables)
		DeferCleanup(func(ctx SpecContext) { e.stop(ctx) })
		start := time.Now()
		Expect(e.lab.DeployCoreDNS(ctx, "node-2")).To(Succeed(), "run CoreDNS as the cluster DNS")
		GinkgoWriter.Printf("CoreDNS answered %s after it was deployed\n", time.Since(start).Round(time.Millisecond))
		kn = plugin{bin: bin, kubeconfig: e.lab.Kubeconfig()}
	}, NodeTimeout(4*time.Minute))

	BeforeEach(func() {
		DeferCleanup(func(ctx SpecContext) { e.expectHealthy(ctx) })
	})

	// resolve asks as web's resolver does, until the answer has an address (want) or not.
	resolve := func(ctx context.Context, name string, tcp, want bool) collector.LookupResult {
		GinkgoHelper()
		var got collector.LookupResult
		Eventually(func(g Gomega) {
			var err error
			got, err = e.lab.Resolve(ctx, shopNamespace, "web", name, tcp, time.Second)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(len(got.Addrs) > 0).To(Equal(want), "the lab's real query for %s (tcp=%v): %+v", name, tcp, got)
		}).WithContext(ctx).WithTimeout(15 * time.Second).Should(Succeed())
		return got
	}
	report := func(nd *diagv1alpha1.NetworkDiagnosis) string {
		status, _ := json.MarshalIndent(nd.Status, "", "  ")
		return string(status)
	}
	// ask diagnoses TCP from web to name and port, which must answer verdict, decided by
	// why unless it is empty.
	ask := func(ctx context.Context, name string, port int32, verdict diagv1alpha1.Verdict, why model.Reason) *diagv1alpha1.NetworkDiagnosis {
		GinkgoHelper()
		nd := e.diagnose(ctx, MakeDiagnosis(uniqueName("web-to-name")).FromPod("web").ToName(name, port).Obj())
		Expect(nd.Status.Phase).To(Equal(diagv1alpha1.PhaseSucceeded), report(nd))
		Expect(nd.Status.Verdict).To(Equal(verdict), report(nd))
		if why != "" {
			Expect(nd.Status.Why).To(Equal(string(why)), report(nd))
		}
		return nd
	}

	It("resolves a Service's short name as the pod's resolver does and finds it Reachable", func(ctx SpecContext) {
		ip := e.clusterIP(ctx, "db")
		Expect(resolve(ctx, "db", false, true).Addrs).To(ConsistOf(ip))
		Expect(resolve(ctx, "db.shop", true, true).Addrs).To(ConsistOf(ip), "over TCP too")
		expectTruth(ctx, paths{e: e, ctx: ctx}.podToService("web", "db", 5432, lab.TCP), true)

		nd := ask(ctx, "db", 5432, diagv1alpha1.VerdictReachable, "")
		Expect(nd.Status.DestinationSummary).To(Equal("name/db -> service/shop/db ("+ip.String()+")"), report(nd))
		Expect(nd.Status.Suspicions).To(ContainElement(And(
			HaveField("Reason", string(model.ReasonNameResolved)),
			HaveField("Message", ContainSubstring("db resolves to "+ip.String()+" as service shop/db")))), report(nd))
		Expect(nd.Status.Suspicions).NotTo(ContainElement(HaveField("Reason", string(model.ReasonDNSPathBroken))), report(nd))
		Expect(nd.Status.Collectors).To(HaveLen(2), "web's node and CoreDNS's: %s", report(nd))
	}, SpecTimeout(2*time.Minute))

	It("finds UDP 53 dropped on the DNS pod's node: the name cannot be resolved", func(ctx SpecContext) {
		n2 := e.node("node-2").Netns
		e.inject(ctx, n2, []string{"iptables", "-w", "-I", "FORWARD", "-p", "udp", "--dport", "53", "-j", "DROP"},
			[]string{"iptables", "-w", "-D", "FORWARD", "-p", "udp", "--dport", "53", "-j", "DROP"})
		Expect(resolve(ctx, "db", false, false).Err).To(ContainSubstring("timeout"), "web's queries go unanswered")
		// The address itself still answers: only the name fails.
		expectTruth(ctx, paths{e: e, ctx: ctx}.podToService("web", "db", 5432, lab.TCP), true)

		nd := ask(ctx, "db", 5432, diagv1alpha1.VerdictUnreachable, model.ReasonDNSPathBroken)
		Expect(nd.Status.Suspicions).To(ContainElement(And(
			HaveField("Reason", string(model.ReasonDNSPathBroken)),
			HaveField("Level", diagv1alpha1.LevelCritical),
			HaveField("Node", "node-2"),
			HaveField("Message", ContainSubstring("UDP/53")))), report(nd))
		Expect(nd.Status.Summary).To(ContainSubstring("db cannot be resolved by pod/shop/web"), report(nd))
	}, SpecTimeout(2*time.Minute))

	It("finds a name nothing in the cluster answers Unreachable, naming the names asked", func(ctx SpecContext) {
		got := resolve(ctx, "nosuch.shop.svc.cluster.local.", false, false)
		Expect(got.Err).To(ContainSubstring("NameError"), "the cluster DNS answers NXDOMAIN")

		nd := ask(ctx, "nosuch.shop.svc.cluster.local.", 80, diagv1alpha1.VerdictUnreachable, model.ReasonNameNotResolved)
		Expect(nd.Status.Summary).To(ContainSubstring("NXDOMAIN for nosuch.shop.svc.cluster.local"), report(nd))
	}, SpecTimeout(2*time.Minute))

	It("resolves a name outside the cluster with the pod's own resolver, at collection, and says so", func(ctx SpecContext) {
		internet := e.lab.External().InternetIP
		Expect(resolve(ctx, "www.example.com", false, true).Addrs).To(ConsistOf(internet))
		expectTruth(ctx, paths{e: e, ctx: ctx}.podToInternet("web", 443), true)

		nd := ask(ctx, "www.example.com", 443, diagv1alpha1.VerdictReachable, "")
		Expect(nd.Status.DestinationSummary).To(Equal("name/www.example.com -> ip/"+internet.String()), report(nd))
		Expect(nd.Status.Suspicions).To(ContainElement(And(
			HaveField("Reason", string(model.ReasonNameResolved)),
			HaveField("Message", ContainSubstring("www.example.com resolves to "+internet.String()+" as www.example.com, answered by the source's own resolver (nameserver 10.96.0.10)")))), report(nd))
	}, SpecTimeout(2*time.Minute))

	It("is asked by kubectl netdiag with name/NAME or a bare DNS name", func(ctx SpecContext) {
		resolve(ctx, "db.shop.svc.cluster.local", false, true)
		e.managerRunning()
		for _, dst := range []string{"name/db:5432", "db.shop.svc.cluster.local:5432"} {
			got := kn.run(ctx, "pod/web", dst, "-n", shopNamespace)
			Expect(got.code).To(Equal(0), "%s: %s", dst, got.stderr)
			Expect(got.stdout).To(MatchRegexp(`^Verdict:  Reachable\n`), dst)
		}
	}, SpecTimeout(2*time.Minute))

	// Last: CoreDNS comes back for nothing after it.
	It("finds the cluster DNS without endpoints: no name resolves", func(ctx SpecContext) {
		Expect(e.lab.DeleteCoreDNSPod(ctx)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			Expect(e.lab.StartCoreDNSPod(ctx, "node-2", e.lab.CoreDNSConf())).To(Succeed())
		})
		// Once kube-proxy has synced, it refuses the query at once (REJECT, no endpoints);
		// before, it still sends it to the pod that is gone.
		Eventually(func() string { return resolve(ctx, "db", false, false).Err }).WithContext(ctx).WithTimeout(30*time.Second).
			Should(ContainSubstring("connection refused"), "kube-proxy refuses the query")
		Eventually(func() string {
			return e.run(ctx, e.node("node-1").Netns, "iptables-save", "-t", "nat")
		}).WithContext(ctx).WithTimeout(30*time.Second).ShouldNot(ContainSubstring(`"kube-system/kube-dns:dns cluster IP"`),
			"kube-proxy on web's node no longer translates to the gone pod")

		nd := ask(ctx, "db", 5432, diagv1alpha1.VerdictUnreachable, model.ReasonDNSPathBroken)
		Expect(nd.Status.Suspicions).To(ContainElement(And(
			HaveField("Reason", string(model.ReasonDNSPathBroken)),
			HaveField("Rule", ContainSubstring(string(model.ReasonServiceNoEndpoints))))), report(nd))
	}, SpecTimeout(2*time.Minute))
})
