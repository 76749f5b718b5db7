package e2e

import (
	"context"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/bundle"
	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/plugins"
	"github.com/netdiag/netdiag/test/lab"
)

// A diagnosis on the lab that keeps its snapshots is written out as `netdiag bundle` does,
// and the bundle, as it is and redacted, gives the controller's answer offline.
var _ = Describe("Support bundles", Ordered, Label("bundle"), func() {
	var e *env
	BeforeAll(func(ctx SpecContext) {
		requireLab()
		e = startEnv(ctx, "ndebun", lab.ModeFlannelVXLAN, lab.ProxyIPTables)
		DeferCleanup(func(ctx SpecContext) { e.stop(ctx) })
	}, NodeTimeout(3*time.Minute))

	roundTrip := func(ctx context.Context, nd *diagv1alpha1.NetworkDiagnosis) {
		GinkgoHelper()
		nd.Spec.KeepSnapshots = ptr.To(true)
		got := e.diagnose(ctx, nd)
		Expect(got.Status.Phase).To(Equal(diagv1alpha1.PhaseSucceeded), conditionsOf(got))

		path := filepath.Join(GinkgoT().TempDir(), nd.Name+".tar.gz")
		_, err := bundle.Export(ctx, e.client, client.ObjectKeyFromObject(nd), controllerNamespace, bundle.ExportOptions{Path: path})
		Expect(err).NotTo(HaveOccurred())
		b, err := bundle.Read(path)
		Expect(err).NotTo(HaveOccurred())
		in, err := b.Input()
		Expect(err).NotTo(HaveOccurred())
		res, err := (&diagnose.Diagnostor{Plugins: plugins.Registry()}).Diagnose(in)
		Expect(err).NotTo(HaveOccurred())

		Expect(string(res.Verdict)).To(Equal(string(got.Status.Verdict)))
		var want, have []string
		for _, s := range got.Status.Suspicions {
			want = append(want, s.Reason)
		}
		for _, s := range res.Suspicions {
			have = append(have, string(s.Reason))
		}
		Expect(have).To(Equal(want), "suspicions of the bundle and of the controller")
		var hops []string
		for _, h := range got.Status.PacketPath.Hops {
			hops = append(hops, h.ID)
		}
		var offline []string
		for _, n := range res.Path.Nodes {
			offline = append(offline, n.ID)
		}
		Expect(offline).To(Equal(hops), "hops of the bundle and of the controller")
		Expect(got.Status.Summary).To(HavePrefix(res.Summary))

		red, err := bundle.Redact(b)
		Expect(err).NotTo(HaveOccurred())
		Expect(bundle.SameAnswer(plugins.Registry(), b, red)).To(Succeed())
	}

	It("round-trips a healthy service path", func(ctx SpecContext) {
		roundTrip(ctx, MakeDiagnosis(uniqueName("bundle-svc")).FromPod("web").ToService("db", 5432).Obj())
	}, SpecTimeout(3*time.Minute))

	It("round-trips a path a FORWARD rule drops", func(ctx SpecContext) {
		e.iptablesInsert(ctx, e.node("node-2").Netns, "FORWARD", "-d", e.podIP(ctx, "db").String()+"/32", "-j", "DROP")
		roundTrip(ctx, MakeDiagnosis(uniqueName("bundle-drop")).FromPod("web").ToPod("db", 5432).Obj())
	}, SpecTimeout(3*time.Minute))
})
