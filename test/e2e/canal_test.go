package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netdiag/netdiag/test/lab"
)

// The canal lab runs real flanneld (vxlan) between the nodes and real felix in policy-only
// mode on pods wired as calico's CNI plugin wires them: one lab for every spec.
var _ = Describe("netdiag on canal with real flanneld and felix", Ordered, ContinueOnFailure, Label("canal"), func() {
	var e *env
	BeforeAll(func(ctx SpecContext) {
		requireLab()
		start := time.Now()
		e = startEnv(ctx, "ndecan", lab.ModeCanal, lab.ProxyIPTables, func(c *lab.Config) { c.FelixDataplane = lab.FelixIPTables })
		GinkgoWriter.Printf("Canal lab ready (lab up %s, with the shop and manager %s)\n",
			e.upTook.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		DeferCleanup(func(ctx SpecContext) { e.stop(ctx) })
	}, NodeTimeout(4*time.Minute))

	BeforeEach(func() {
		DeferCleanup(func(ctx SpecContext) { e.expectHealthy(ctx) })
	})

	It("runs felix's chains on cali veths and flannel's vxlan between the nodes", func(ctx SpecContext) {
		e.expectFelixChainTo(ctx, "db", "node-2")
		Expect(e.peerRoute(ctx, "node-1", "node-2")).To(ContainSubstring("dev flannel.1"), "flannel's vxlan route to node-2's subnet")
	}, SpecTimeout(time.Minute))

	for _, h := range []struct {
		name string
		path func(p paths) path
	}{
		{"pod to pod on one node", func(p paths) path { return p.podToPod("web", "api", 8080) }},
		{"pod to pod across nodes", func(p paths) path { return p.podToPod("web", "db", 5432) }},
		{"pod to a ClusterIP service", func(p paths) path { return p.podToService("web", "db", 5432, lab.TCP) }},
	} {
		It("finds "+h.name+" Reachable and clean", func(ctx SpecContext) {
			e.expectDiagnosis(ctx, h.path(paths{e: e, ctx: ctx}), reachable())
		}, SpecTimeout(2*time.Minute))
	}

	It("names a Calico NetworkPolicy that denies", func(ctx SpecContext) {
		e.calicoObject(ctx, "NetworkPolicy", shopNamespace, "deny-web-to-db", nil, denyWebToDB(100))
		e.expectCalicoDenied(ctx, paths{e: e, ctx: ctx}.podToPod("web", "db", 5432), "node-2",
			"default|shop/default.deny-web-to-db|deny|0")
	}, SpecTimeout(2*time.Minute))
})
