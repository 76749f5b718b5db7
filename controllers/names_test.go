package controllers

import (
	"net/netip"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

func (w *DiagnosisWrapper) ToName(name string, port int32) *DiagnosisWrapper {
	w.Spec.Destination.Name = name
	return w.Port(port)
}

var _ = Describe("NetworkDiagnosis toward a DNS name", func() {
	It("resolves the name through the source's search path, collects the DNS pod's node too, and says what the name resolved to", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		node1, node2 := ns+"-n1", ns+"-n2"
		ip1, ip2 := nextIP("192.168.0.0"), nextIP("192.168.0.0")
		createNode(ctx, MakeNode(node1).IP(ip1).PodCIDR("10.244.1.0/24"))
		createNode(ctx, MakeNode(node2).IP(ip2).PodCIDR("10.244.2.0/24"))
		createPod(ctx, MakePod("web", ns).On(node1, nextIP("10.244.0.0")))
		db := createPod(ctx, MakePod("db", ns).Label("app", "db").On(node1, nextIP("10.244.0.0")).ContainerPort(5432))
		dbSvc := createService(ctx, MakeService("db", ns).Port(5432, 5432))
		createEndpointSlice(ctx, MakeEndpointSlice("db", ns).Port(5432).Endpoint(db))

		By("running the cluster DNS on the second node, behind kube-system/kube-dns")
		coredns := createPod(ctx, MakePod(ns+"-coredns", "kube-system").Label("k8s-app", "kube-dns").On(node2, nextIP("10.244.0.0")))
		dns := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"}, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"k8s-app": "kube-dns"},
			Ports: []corev1.ServicePort{{Name: "dns", Port: 53, TargetPort: intstr.FromInt32(53), Protocol: corev1.ProtocolUDP},
				{Name: "dns-tcp", Port: 53, TargetPort: intstr.FromInt32(53), Protocol: corev1.ProtocolTCP}}}}
		Expect(k8sClient.Create(ctx, dns)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(k8sClient.Delete(ctx, dns)).To(Succeed()) })
		createEndpointSlice(ctx, MakeEndpointSlice("kube-dns", "kube-system").Port(53).Endpoint(coredns))
		nodeIP := map[string]string{node1: ip1, node2: ip2}

		By("asking for db by its short name, as the web pod's resolver would")
		nd := createDiagnosis(ctx, MakeDiagnosis("by-name", ns).FromPod("web").ToName("db", 5432))
		pods := waitForCollectors(ctx, nd, node1, node2)
		Expect(parseCollectorCommand(pods[node2]).pods).To(ContainElement(HaveField("Name", coredns.Name)))
		for node, pod := range pods {
			collect(ctx, pod, nodeIP[node])
		}
		got := waitForPhase(ctx, nd, diagv1alpha1.PhaseSucceeded)
		Expect(got.Status.DestinationSummary).To(Equal("name/db -> service/" + ns + "/db (" + dbSvc.Spec.ClusterIP + ")"))
		Expect(got.Status.Suspicions).To(ContainElement(And(
			HaveField("Reason", string(model.ReasonNameResolved)),
			HaveField("Message", ContainSubstring("db resolves to "+dbSvc.Spec.ClusterIP+" as service "+ns+"/db")),
			HaveField("Message", ContainSubstring("search path ("+ns+".svc.cluster.local svc.cluster.local cluster.local, ndots:5)")))))

		By("asking for a name outside the cluster: the web pod's collector resolves it with the pod's resolver")
		nd = createDiagnosis(ctx, MakeDiagnosis("outside", ns).FromPod("web").ToName("www.example.com", 443))
		pods = waitForCollectors(ctx, nd, node1, node2)
		Expect(parseCollectorCommand(pods[node1]).lookup).To(Equal(map[string]string{
			"--lookup-from": "pod:" + ns + "/web", "--lookup-name": "www.example.com", "--lookup-ndots": "5",
			"--lookup-nameserver": dns.Spec.ClusterIP, "--lookup-search": ns + ".svc.cluster.local,svc.cluster.local,cluster.local",
		}))
		Expect(parseCollectorCommand(pods[node2]).lookup).To(BeEmpty(), "only the source's node resolves")
		collect(ctx, pods[node2], nodeIP[node2])
		collectEdited(ctx, pods[node1], nodeIP[node1], nil, func(snap *netstack.NodeSnapshot) {
			snap.Lookup = &netstack.NameLookup{Name: "www.example.com", Answered: "www.example.com",
				Addrs: []netip.Addr{netip.MustParseAddr("203.0.113.10")}, Server: netip.MustParseAddr(dns.Spec.ClusterIP)}
		})
		got = waitForPhase(ctx, nd, diagv1alpha1.PhaseSucceeded)
		Expect(got.Status.DestinationSummary).To(Equal("name/www.example.com -> ip/203.0.113.10"))
		Expect(got.Status.Suspicions).To(ContainElement(And(
			HaveField("Reason", string(model.ReasonNameResolved)),
			HaveField("Message", ContainSubstring("answered by the source's own resolver")))))

		By("asking for a name nothing in the cluster answers")
		nd = createDiagnosis(ctx, MakeDiagnosis("no-such-name", ns).FromPod("web").ToName("nosuch", 5432))
		pods = waitForCollectors(ctx, nd, node1, node2)
		for node, pod := range pods {
			collect(ctx, pod, nodeIP[node])
		}
		got = waitForPhase(ctx, nd, diagv1alpha1.PhaseSucceeded)
		Expect(got.Status.Verdict).To(Equal(diagv1alpha1.VerdictUnreachable))
		Expect(got.Status.DestinationSummary).To(Equal("name/nosuch (unresolved)"))
		Expect(got.Status.Suspicions).To(ContainElement(And(
			HaveField("Reason", string(model.ReasonNameNotResolved)),
			HaveField("Message", ContainSubstring("NXDOMAIN for nosuch."+ns+".svc.cluster.local")))))
	})
})
