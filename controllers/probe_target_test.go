package controllers

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
)

var _ = Describe("The probe's target", func() {
	// The schema refuses such an ip in the spec; a pod's address is the kubelet's to say, and
	// a hostNetwork or misconfigured pod can have one.
	It("is never an address the collector refuses: a pod that resolves to link-local is diagnosed, not probed, and the status says why", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		node, nodeIP := ns+"-n1", nextIP("192.168.0.0")
		createNode(ctx, MakeNode(node).IP(nodeIP).PodCIDR("10.244.1.0/24"))
		createPod(ctx, MakePod("web", ns).On(node, nextIP("10.244.0.0")))
		createPod(ctx, MakePod("metadata", ns).On(node, "169.254.169.254").ContainerPort(80))

		nd := createDiagnosis(ctx, MakeDiagnosis("to-metadata", ns).FromPod("web").ToPod("metadata", 80).Probe())
		pods := waitForCollectors(ctx, nd, node)
		Expect(parseCollectorCommand(pods[node]).probe).To(BeEmpty(), "the collector is not asked to probe")
		collect(ctx, pods[node], nodeIP)

		got := waitForPhase(ctx, nd, diagv1alpha1.PhaseSucceeded)
		Expect(got.Status.Verdict).NotTo(BeEmpty(), "the diagnosis still answers")
		Expect(got.Status.Probe).To(Equal(&diagv1alpha1.ProbeResult{
			Inconclusive: true,
			Message:      "probe not sent: the destination 169.254.169.254 is a link-local address, which a probe never targets",
		}))
		expectNoChildren(ctx, nd)
	})
})
