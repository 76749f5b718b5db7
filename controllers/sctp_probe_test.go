package controllers

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
)

var _ = Describe("An SCTP question", func() {
	// The probe speaks TCP, UDP and ICMP; this kernel, like many, has no SCTP sockets at all.
	It("is diagnosed from the rules, and a probe asked for is refused in the status, not sent", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		node, nodeIP := ns+"-n1", nextIP("192.168.0.0")
		createNode(ctx, MakeNode(node).IP(nodeIP).PodCIDR("10.244.1.0/24"))
		createPod(ctx, MakePod("web", ns).On(node, nextIP("10.244.0.0")))
		createPod(ctx, MakePod("sig", ns).On(node, nextIP("10.244.0.0")))

		nd := createDiagnosis(ctx, MakeDiagnosis("to-sig", ns).FromPod("web").ToPod("sig", 2905).Protocol(diagv1alpha1.ProtocolSCTP).Probe())
		pods := waitForCollectors(ctx, nd, node)
		Expect(parseCollectorCommand(pods[node]).probe).To(BeEmpty(), "the collector is not asked to probe")
		collect(ctx, pods[node], nodeIP)

		got := waitForPhase(ctx, nd, diagv1alpha1.PhaseSucceeded)
		Expect(got.Status.Verdict).NotTo(BeEmpty(), "the diagnosis still answers")
		Expect(got.Status.Probe).To(Equal(&diagv1alpha1.ProbeResult{
			Inconclusive: true,
			Message:      "probe not sent: the probe sends TCP, UDP and ICMP only, not SCTP; the answer comes from the rules alone",
		}))
	})
})
