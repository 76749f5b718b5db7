package e2e

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/test/lab"
)

// The figures are measured, printed and reported; nothing asserts on a duration, since the
// machine (2 shared cores here) decides them more than the code does.
var _ = Describe("Figures", Ordered, Label("figures"), func() {
	var e *env
	BeforeAll(func(ctx SpecContext) {
		requireLab()
		e = startEnv(ctx, "ndefig", lab.ModeFlannelVXLAN, lab.ProxyIPTables)
		DeferCleanup(func(ctx SpecContext) { e.stop(ctx) })
		report("lab up (2 nodes, flannel vxlan, kube-proxy iptables)", e.upTook)
		// Every diagnosis timed below must answer Reachable, which the lab confirms first.
		expectTruth(ctx, paths{e: e, ctx: ctx}.podToService("web", "db", 5432, lab.TCP), true)
	}, NodeTimeout(3*time.Minute))

	It("times one diagnosis from create to its final phase, 20 times in a row", func(ctx SpecContext) {
		var took []time.Duration
		for i := range 20 {
			d := e.timeToFinal(ctx, "one-"+strconv.Itoa(i), 1)
			took = append(took, d...)
		}
		slices.Sort(took)
		report("one diagnosis, create to final phase: median of 20", median(took))
		report("one diagnosis, create to final phase: fastest of 20", took[0])
		report("one diagnosis, create to final phase: slowest of 20", took[len(took)-1])
	}, SpecTimeout(5*time.Minute))

	It("times 50 diagnoses created at once", func(ctx SpecContext) {
		start := time.Now()
		took := e.timeToFinal(ctx, "batch", 50)
		total := time.Since(start)
		slices.Sort(took)
		report("50 diagnoses at once: all final after", total)
		report("50 diagnoses at once: per diagnosis (total / 50)", total/50)
		report("50 diagnoses at once: median create to final phase", median(took))
	}, SpecTimeout(5*time.Minute))
})

func report(what string, d time.Duration) {
	AddReportEntry(what, d.Round(time.Millisecond).String(), ReportEntryVisibilityAlways)
}

func median(sorted []time.Duration) time.Duration { return sorted[len(sorted)/2] }

// timeToFinal creates n diagnoses of web to the db Service at once and returns, for each,
// the time from just before its create call to the watch event that shows it final. Every
// diagnosis must end Succeeded and Reachable: a fast wrong answer is no figure.
func (e *env) timeToFinal(ctx context.Context, batch string, n int) []time.Duration {
	GinkgoHelper()
	w, err := e.client.Watch(ctx, &diagv1alpha1.NetworkDiagnosisList{}, client.InNamespace(shopNamespace), client.MatchingLabels{"figures": batch})
	Expect(err).NotTo(HaveOccurred())
	defer w.Stop()

	var mu sync.Mutex
	created := map[string]time.Time{}
	var wg sync.WaitGroup
	for i := range n {
		nd := MakeDiagnosis(fmt.Sprintf("fig-%s-%d", batch, i)).FromPod("web").ToService("db", 5432).Obj()
		nd.Labels["figures"] = batch
		wg.Go(func() {
			defer GinkgoRecover()
			mu.Lock()
			created[nd.Name] = time.Now()
			mu.Unlock()
			Expect(e.client.Create(ctx, nd)).To(Succeed())
		})
	}
	wg.Wait()
	DeferCleanup(func(ctx SpecContext) {
		Expect(e.client.DeleteAllOf(ctx, &diagv1alpha1.NetworkDiagnosis{}, client.InNamespace(shopNamespace), client.MatchingLabels{"figures": batch})).To(Succeed())
	})

	took := map[string]time.Duration{}
	timeout := time.After(4 * time.Minute)
	for len(took) < n {
		select {
		case ev, ok := <-w.ResultChan():
			Expect(ok).To(BeTrue(), "the watch ended")
			nd, isND := ev.Object.(*diagv1alpha1.NetworkDiagnosis)
			if ev.Type == watch.Error || !isND || !nd.Status.Phase.Finished() {
				continue
			}
			if _, seen := took[nd.Name]; seen {
				continue
			}
			now := time.Now()
			mu.Lock()
			took[nd.Name] = now.Sub(created[nd.Name])
			mu.Unlock()
			Expect(nd.Status.Phase).To(Equal(diagv1alpha1.PhaseSucceeded), "%s: %s", nd.Name, nd.Status.Summary)
			Expect(nd.Status.Verdict).To(Equal(diagv1alpha1.VerdictReachable), "%s: %s", nd.Name, nd.Status.Summary)
		case <-timeout:
			Fail(fmt.Sprintf("%d of %d diagnoses final after 4 minutes", len(took), n))
		case <-ctx.Done():
			Fail("interrupted")
		}
	}
	out := make([]time.Duration, 0, n)
	for _, d := range took {
		out = append(out, d)
	}
	return out
}
