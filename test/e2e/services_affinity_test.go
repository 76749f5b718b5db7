package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/test/lab"
)

// affinitySpecs are a Service with ClientIP session affinity over the 12 big pods: a
// client that has connected is kept on one endpoint, which kube-proxy on its node records
// (a recent list in iptables mode, an affinity set in nftables mode). Each answer is
// checked first against that record and real packets.
func affinitySpecs(shared func() *env) {
	Context("with ClientIP session affinity", Ordered, func() {
		var e *env
		BeforeAll(func(ctx SpecContext) {
			e = shared()
			sticky := service("sticky", "big", corev1.ServiceTypeClusterIP, corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP})
			sticky.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			sticky.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](900)}}
			e.create(ctx, sticky)
			e.expectProxyEndpoints(ctx, "sticky", bigNames(0, bigEndpoints), nil)
		}, NodeTimeout(2*time.Minute))

		It("keeps web on the endpoint of its first connection: Reachable by that one branch, which it names", func(ctx SpecContext) {
			e.expectService(ctx, "sticky", true)
			pinned := e.pinnedPod(ctx, "sticky", "web")
			nd := e.expectVerdict(ctx, MakeDiagnosis(uniqueName("web-to-sticky")).FromPod("web").ToService("sticky", 80).Obj(),
				diagv1alpha1.VerdictReachable)
			expectOnlyInfo(nd)
			expectPinnedTo(nd, pinned)
		}, SpecTimeout(3*time.Minute))

		It("is Unreachable for web when its pinned endpoint drops, and PartiallyReachable for a client not pinned", func(ctx SpecContext) {
			pinned := e.pinnedPod(ctx, "sticky", "web")
			e.iptablesInsert(ctx, e.podNetns(pinned), "INPUT", "-p", "tcp", "--dport", "8080", "-j", "DROP")
			// Every connection of web fails, though 11 of the 12 pods answer it directly.
			e.expectService(ctx, "sticky", false)
			e.probeEach(ctx, allBig(pinned))
			nd := e.expectVerdict(ctx, MakeDiagnosis(uniqueName("web-to-sticky")).FromPod("web").ToService("sticky", 80).Obj(),
				diagv1alpha1.VerdictUnreachable)
			expectPodSuspected(nd, pinned)
			expectPinnedTo(nd, pinned)

			// db has never connected to sticky: kube-proxy balances it over every endpoint.
			nd = e.expectVerdict(ctx, MakeDiagnosis(uniqueName("db-to-sticky")).FromPod("db").ToService("sticky", 80).Obj(),
				diagv1alpha1.VerdictPartiallyReachable, "arrives by 11 of 12 branches", "pod/shop/"+pinned)
			Expect(reasons(nd)).NotTo(ContainElement(string(model.ReasonServiceAffinityPinned)))
		}, SpecTimeout(3*time.Minute))
	})
}

// expectPinnedTo expects the diagnosis to say the client is pinned to the pod.
func expectPinnedTo(nd *diagv1alpha1.NetworkDiagnosis, pod string) {
	GinkgoHelper()
	Expect(nd.Status.Suspicions).To(ContainElement(Satisfy(func(s diagv1alpha1.Suspicion) bool {
		return s.Reason == string(model.ReasonServiceAffinityPinned) && strings.Contains(s.Message, "pod/"+shopNamespace+"/"+pod+" ")
	})), "ServiceAffinityPinned names %s: %v", pod, nd.Status.Suspicions)
}

// pinnedPod reads on the client's node which endpoint of the service kube-proxy keeps the
// client on: the recent list that holds the client's address (iptables mode, one list per
// KUBE-SEP chain, whose DNAT names the endpoint) or the affinity set (nftables mode, named
// after the endpoint).
func (e *env) pinnedPod(ctx context.Context, service, client string) string {
	GinkgoHelper()
	clientIP := e.podIP(ctx, client).String()
	node := e.node(e.pod(ctx, client).Spec.NodeName)
	var endpoint string
	Eventually(func(g Gomega) {
		if e.proxy == lab.ProxyNFTables {
			out, err := e.lab.Exec(ctx, node.Netns, "nft", "list", "table", "ip", "kube-proxy")
			g.Expect(err).NotTo(HaveOccurred())
			for _, set := range strings.Split(string(out), "\n\tset ") {
				head, elements, _ := strings.Cut(set, "elements = {")
				if strings.HasPrefix(head, "affinity-") && strings.Contains(head, "-"+shopNamespace+"/"+service+"/") &&
					regexp.MustCompile(`[{ ,]`+regexp.QuoteMeta(clientIP)+` `).MatchString(" "+elements) {
					m := regexp.MustCompile(`__([0-9.]+)/`).FindStringSubmatch(head)
					g.Expect(m).NotTo(BeNil(), "affinity set %q names its endpoint", head)
					endpoint = m[1]
				}
			}
		} else {
			out, err := e.lab.Exec(ctx, node.Netns, "grep", "-l", "src="+clientIP+" ", "-r", "/proc/net/xt_recent")
			g.Expect(err).NotTo(HaveOccurred(), "no recent list holds %s", clientIP)
			lists := strings.Fields(string(out))
			rules, err := e.lab.Exec(ctx, node.Netns, "iptables-save", "-t", "nat")
			g.Expect(err).NotTo(HaveOccurred())
			for _, l := range lists {
				m := regexp.MustCompile(`-A ` + regexp.QuoteMeta(l[strings.LastIndex(l, "/")+1:]) + ` .*--comment "` + shopNamespace + `/` + service + `:.* -j DNAT --to-destination ([0-9.]+):`).FindSubmatch(rules)
				if m != nil {
					endpoint = string(m[1])
				}
			}
		}
		g.Expect(endpoint).NotTo(BeEmpty(), "kube-proxy on %s has pinned %s to an endpoint of %s", node.Name, client, service)
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	for i := range bigEndpoints {
		name := fmt.Sprintf("big-%d", i)
		if e.podIP(ctx, name) == netip.MustParseAddr(endpoint) {
			return name
		}
	}
	Fail(fmt.Sprintf("%s is pinned to %s, which is no big pod", client, endpoint))
	return ""
}
