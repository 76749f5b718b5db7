package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/metrics"
	"github.com/netdiag/netdiag/test/lab"
)

// The manager's metrics endpoint, as Prometheus scrapes it: HTTPS on the address the
// manager was started with, and the token of a service account bound to
// netdiag-metrics-reader (config/rbac), which the manager checks with the lab's API server.
var _ = Describe("Metrics", Ordered, Label("metrics"), func() {
	var (
		e     *env
		token string
	)
	BeforeAll(func(ctx SpecContext) {
		requireLab()
		e = startEnv(ctx, "ndemet", lab.ModeFlannelVXLAN, lab.ProxyIPTables)
		DeferCleanup(func(ctx SpecContext) { e.stop(ctx) })
		token = e.metricsReaderToken(ctx)
	}, NodeTimeout(3*time.Minute))

	It("serves diagnoses, phase times, snapshot sizes and engine time that move with a diagnosis", func(ctx SpecContext) {
		before := e.scrapeMetrics(ctx, token)
		Expect(before).To(HaveKey(metrics.NameCollectorsInFlight), "the gauges are there before any diagnosis")

		By("a Reachable diagnosis across both nodes")
		nd := e.expectDiagnosis(ctx, paths{e: e, ctx: ctx}.podToPod("web", "db", 5432), reachable())
		By("a diagnosis of a pod that does not exist")
		ghost := e.diagnose(ctx, MakeDiagnosis(uniqueName("ghost")).FromPod("ghost").ToPod("db", 5432).Obj())
		Expect(ghost.Status.Phase).To(Equal(diagv1alpha1.PhaseFailed))

		// The status is stored before the metrics are recorded: the next scrape may come
		// a moment early.
		var after map[string]*dto.MetricFamily
		Eventually(func(g Gomega) {
			after = e.scrapeMetrics(ctx, token)
			g.Expect(value(after, metrics.NameDiagnosesFinished, "result", "Failed", "reason", diagv1alpha1.ReasonSourceNotFound)).
				To(Equal(value(before, metrics.NameDiagnosesFinished, "result", "Failed", "reason", diagv1alpha1.ReasonSourceNotFound) + 1))
		}).WithContext(ctx).WithTimeout(10 * time.Second).Should(Succeed())

		moved := func(name string, labels ...string) float64 {
			return value(after, name, labels...) - value(before, name, labels...)
		}
		Expect(moved(metrics.NameDiagnosesFinished, "result", "Succeeded", "verdict", "Reachable", "reason", nd.Status.Why)).To(Equal(1.0))
		Expect(moved(metrics.NameDiagnosisDuration, "result", "Succeeded")).To(Equal(1.0), "one Succeeded diagnosis timed")
		Expect(moved(metrics.NamePhaseDuration, "phase", metrics.PhaseResolve)).To(Equal(2.0), "both resolved")
		Expect(moved(metrics.NamePhaseDuration, "phase", metrics.PhaseCollect)).To(Equal(1.0), "one collected")
		Expect(moved(metrics.NamePhaseDuration, "phase", metrics.PhaseDiagnose)).To(Equal(1.0), "one diagnosed")
		Expect(moved(metrics.NameSnapshotBytes)).To(Equal(2.0), "a snapshot from each node")
		Expect(sum(after, metrics.NameSnapshotBytes)-sum(before, metrics.NameSnapshotBytes)).To(BeNumerically(">", 1000), "of some compressed bytes")
		Expect(moved(metrics.NameEngineDuration)).To(BeNumerically(">=", 1))
		Expect(moved(metrics.NameCollectorFailures)).To(BeZero())
		Eventually(func() float64 { return value(e.scrapeMetrics(ctx, token), metrics.NameCollectorsInFlight) }).
			WithContext(ctx).WithTimeout(10*time.Second).Should(BeZero(), "no collector left in flight")
		// controller-runtime's own metrics are served alongside.
		Expect(moved("controller_runtime_reconcile_total", "controller", "networkdiagnosis")).To(BeNumerically(">", 0))
	}, SpecTimeout(2*time.Minute))
})

// metricsReaderToken creates a service account bound to netdiag-metrics-reader, as a
// cluster binds Prometheus's, and returns a token of it.
func (e *env) metricsReaderToken(ctx context.Context) string {
	GinkgoHelper()
	e.applyFile(ctx, filepath.Join(repoRoot, "config", "rbac", "metrics_reader_role.yaml"))
	e.create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "prometheus", Namespace: controllerNamespace}})
	e.create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-netdiag-metrics"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "netdiag-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "prometheus", Namespace: controllerNamespace}},
	})
	cs, err := kubernetes.NewForConfig(e.lab.RESTConfig())
	Expect(err).NotTo(HaveOccurred())
	tr, err := cs.CoreV1().ServiceAccounts(controllerNamespace).CreateToken(ctx, "prometheus", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	return tr.Status.Token
}

// scrapeMetrics reads the manager's metrics endpoint with token, once it answers.
func (e *env) scrapeMetrics(ctx context.Context, token string) map[string]*dto.MetricFamily {
	GinkgoHelper()
	// The manager's certificate is self-signed: who may read is what is checked here.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	var families map[string]*dto.MetricFamily
	Eventually(func(g Gomega) {
		e.managerRunning()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+e.metricsAddr+"/metrics", nil)
		g.Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK), "%s", body)
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err = parser.TextToMetricFamilies(bytes.NewReader(body))
		g.Expect(err).NotTo(HaveOccurred())
	}).WithContext(ctx).WithTimeout(30*time.Second).Should(Succeed(), "scrape https://%s/metrics", e.metricsAddr)
	return families
}

// value sums the series of name whose labels include labels (name, value, ...): counters'
// and gauges' values, histograms' counts.
func value(families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	v, _ := total(families, name, labels...)
	return v
}

// sum sums the histograms' sums of name's series whose labels include labels.
func sum(families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	_, s := total(families, name, labels...)
	return s
}

func total(families map[string]*dto.MetricFamily, name string, labels ...string) (v, s float64) {
	f := families[name]
	if f == nil {
		return 0, 0
	}
	for _, m := range f.GetMetric() {
		if !labelled(m, labels) {
			continue
		}
		v += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
		s += m.GetHistogram().GetSampleSum()
	}
	return v, s
}

func labelled(m *dto.Metric, labels []string) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for i := 0; i+1 < len(labels); i += 2 {
		if have[labels[i]] != labels[i+1] {
			return false
		}
	}
	return true
}

// freeLocalAddr is an address on 127.0.0.1 that nothing listens on now.
func freeLocalAddr() string {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return fmt.Sprint(l.Addr())
}
