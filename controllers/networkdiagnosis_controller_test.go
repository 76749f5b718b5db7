package controllers

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugins"
	"github.com/netdiag/netdiag/internal/transport"
)

var _ = Describe("NetworkDiagnosis validation", func() {
	// kubectl validates fields strictly by default; so does this client.
	strict := func() client.Client { return client.WithFieldValidation(k8sClient, metav1.FieldValidationStrict) }

	DescribeTable("refuses an invalid spec with a message naming the field",
		func(ctx SpecContext, w *DiagnosisWrapper, field, message string) {
			ns := newNamespace(ctx)
			nd := w.Obj()
			nd.Namespace = ns
			err := strict().Create(ctx, nd)
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring(field))
			Expect(err.Error()).To(ContainSubstring(message))
		},
		Entry("no source", MakeDiagnosis("d", "").ToPod("db", 5432),
			"spec.source", "source must name exactly one of pod, node or ip"),
		Entry("two source kinds", MakeDiagnosis("d", "").FromPod("web").FromNode("n1").ToPod("db", 5432),
			"spec.source", "source must name exactly one of pod, node or ip"),
		Entry("no destination", MakeDiagnosis("d", "").FromPod("web").Port(80),
			"spec.destination", "destination must name exactly one of pod, node, service, ip or name"),
		Entry("two destination kinds", MakeDiagnosis("d", "").FromPod("web").ToService("db", 5432).ToIP("10.0.0.1"),
			"spec.destination", "destination must name exactly one of pod, node, service, ip or name"),
		Entry("a malformed source ip", MakeDiagnosis("d", "").FromIP("10.0.0.300").ToPod("db", 5432),
			"spec.source.ip", "ip must be a valid IPv4 or IPv6 address"),
		Entry("a malformed destination ip", MakeDiagnosis("d", "").FromPod("web").ToIP("db.example").Port(80),
			"spec.destination.ip", "ip must be a valid IPv4 or IPv6 address"),
		Entry("a port above 65535", MakeDiagnosis("d", "").FromPod("web").ToPod("db", 70000),
			"spec.port", "less than or equal to 65535"),
		Entry("a negative port", MakeDiagnosis("d", "").FromPod("web").ToPod("db", -1),
			"spec.port", "greater than or equal to 1"),
		Entry("no port for TCP", MakeDiagnosis("d", "").FromPod("web").ToPod("db", 0),
			"spec.port", "port is required for TCP, UDP and SCTP"),
		Entry("no port for UDP", MakeDiagnosis("d", "").FromPod("web").ToPod("dns", 0).Protocol(diagv1alpha1.ProtocolUDP),
			"spec.port", "port is required for TCP, UDP and SCTP"),
		Entry("a port for ICMP", MakeDiagnosis("d", "").FromPod("web").ToPod("db", 80).Protocol(diagv1alpha1.ProtocolICMP),
			"spec.port", "port must not be set for ICMP"),
		Entry("no port for SCTP", MakeDiagnosis("d", "").FromPod("web").ToPod("sig", 0).Protocol(diagv1alpha1.ProtocolSCTP),
			"spec.port", "port is required for TCP, UDP and SCTP"),
		Entry("an unknown protocol", MakeDiagnosis("d", "").FromPod("web").ToPod("db", 80).Protocol("QUIC"),
			"spec.protocol", `supported values: "TCP", "UDP", "SCTP", "ICMP"`),
		Entry("a timeout of a second", MakeDiagnosis("d", "").FromPod("web").ToPod("db", 80).Timeout(metav1.Duration{Duration: time.Second}),
			"spec.timeout", "timeout must be between 10s and 1h"),
		Entry("a timeout of a day", MakeDiagnosis("d", "").FromPod("web").ToPod("db", 80).Timeout(metav1.Duration{Duration: 24 * time.Hour}),
			"spec.timeout", "timeout must be between 10s and 1h"),
		Entry("a negative ttlSecondsAfterFinished", MakeDiagnosis("d", "").FromPod("web").ToPod("db", 80).TTL(-5),
			"spec.ttlSecondsAfterFinished", "greater than or equal to 0"),
		Entry("a pod without a name", MakeDiagnosis("d", "").FromPod("").ToPod("db", 80),
			"spec.source.pod.name", "at least 1 chars long"),
		Entry("a packet smaller than an IP header and a little", MakeDiagnosis("d", "").FromPod("web").ToPod("db", 80).PacketSize(40, false),
			"spec.packetSize", "greater than or equal to 68"),
		Entry("DF without a packet size", MakeDiagnosis("d", "").FromPod("web").ToPod("db", 80).PacketSize(0, true),
			"spec.dontFragment", "dontFragment needs packetSize"),
		Entry("a malformed network plugin", MakeDiagnosis("d", "").FromPod("web").ToPod("db", 80).NetworkPlugin("Flannel!"),
			"spec.networkPlugin", "should match"),
	)

	It("refuses a service as the source", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": diagv1alpha1.GroupVersion.String(),
			"kind":       "NetworkDiagnosis",
			"metadata":   map[string]any{"name": "svc-source", "namespace": ns},
			"spec": map[string]any{
				"source":      map[string]any{"service": map[string]any{"name": "web"}},
				"destination": map[string]any{"pod": map[string]any{"name": "db"}},
				"port":        int64(5432),
			},
		}}
		err := strict().Create(ctx, u)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring(`unknown field "spec.source.service"`))
		// Without strict field validation the field is pruned, and the source is empty.
		err = k8sClient.Create(ctx, u)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("spec.source: Invalid value"))
	})

	It("defaults protocol, timeout and network plugin", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		nd := MakeDiagnosis("defaults", ns).FromPod("web").ToPod("db", 80).Obj()
		Expect(k8sClient.Create(ctx, nd)).To(Succeed())
		Expect(nd.Spec.Protocol).To(Equal(diagv1alpha1.ProtocolTCP))
		Expect(nd.Spec.Timeout).To(Equal(&metav1.Duration{Duration: 2 * time.Minute}))
		Expect(nd.Spec.NetworkPlugin).To(Equal("auto"))
	})
})

var _ = Describe("NetworkDiagnosis controller", func() {
	var (
		ns             string
		node1, node2   string
		node1IP        string
		node2IP        string
		web, db1, db2  *corev1.Pod
		dbSvc          *corev1.Service
		timeoutSeconds = 60
	)

	// Two nodes; web on node1, the db Service backed by db1 on node1 and db2 on node2.
	BeforeEach(func(ctx SpecContext) {
		ns = newNamespace(ctx)
		node1, node2 = ns+"-n1", ns+"-n2"
		node1IP, node2IP = nextIP("192.168.0.0"), nextIP("192.168.0.0")
		createNode(ctx, MakeNode(node1).IP(node1IP).PodCIDR("10.244.1.0/24").Taint(corev1.TaintNodeUnschedulable))
		createNode(ctx, MakeNode(node2).IP(node2IP).PodCIDR("10.244.2.0/24"))
		web = createPod(ctx, MakePod("web", ns).On(node1, nextIP("10.244.0.0")))
		db1 = createPod(ctx, MakePod("db-1", ns).Label("app", "db").On(node1, nextIP("10.244.0.0")).ContainerPort(5432))
		db2 = createPod(ctx, MakePod("db-2", ns).Label("app", "db").On(node2, nextIP("10.244.0.0")).ContainerPort(5432))
		dbSvc = createService(ctx, MakeService("db", ns).Port(5432, 5432))
		createEndpointSlice(ctx, MakeEndpointSlice("db", ns).Port(5432).Endpoint(db1).Endpoint(db2))
	})

	nodeIP := func(node string) string {
		if node == node1 {
			return node1IP
		}
		return node2IP
	}

	It("runs a collector pod on every node of the path, all at once, with everything a collector needs", func(ctx SpecContext) {
		nd := createDiagnosis(ctx, MakeDiagnosis("web-to-db", ns).FromPod("web").ToService("db", 5432).Probe().
			Timeout(metav1.Duration{Duration: time.Duration(timeoutSeconds) * time.Second}))
		pods := waitForCollectors(ctx, nd, node1, node2)

		got := waitForPhase(ctx, nd, diagv1alpha1.PhaseCollecting)
		// No finalizer: the diagnosis goes with its CRD even when no controller runs.
		Expect(got.Finalizers).NotTo(ContainElement(Finalizer))
		Expect(got.Status.StartTime).NotTo(BeNil())
		Expect(got.Status.SourceSummary).To(Equal("pod/" + ns + "/web (" + web.Status.PodIP + ")"))
		Expect(got.Status.DestinationSummary).To(Equal("service/" + ns + "/db (" + dbSvc.Spec.ClusterIP + ")"))
		Expect(meta.IsStatusConditionTrue(got.Status.Conditions, diagv1alpha1.ConditionEndpointsResolved)).To(BeTrue())
		Expect(got.Status.Collectors).To(HaveLen(2))
		Eventually(func(g Gomega) {
			g.Expect(getDiagnosis(ctx, g, nd).Status.Collectors).To(HaveEach(HaveField("Message", "Collector pod is pending")))
		}).Should(Succeed())

		for node, pod := range pods {
			By("checking the collector on " + node)
			Expect(pod.Namespace).To(Equal(controllerNamespace))
			Expect(pod.Spec.NodeName).To(Equal(node))
			Expect(pod.Spec.HostNetwork).To(BeTrue())
			Expect(pod.Spec.HostPID).To(BeTrue())
			Expect(pod.Spec.RestartPolicy).To(Equal(corev1.RestartPolicyNever))
			Expect(pod.Spec.ServiceAccountName).To(Equal(CollectorServiceAccount))
			// A cordoned node still forwards traffic and is often the one to look at; a
			// broken or control-plane node is not tolerated by default.
			Expect(pod.Spec.Tolerations).To(ContainElement(corev1.Toleration{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}))
			Expect(pod.Spec.Tolerations).NotTo(ContainElement(HaveField("Key", BeElementOf("node-role.kubernetes.io/control-plane", ""))))
			for _, broken := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
				Expect(pod.Spec.Tolerations).To(ContainElement(And(HaveField("Key", broken), HaveField("TolerationSeconds", HaveValue(BeZero())))),
					"a collector leaves a broken node at once")
			}
			Expect(pod.Spec.PriorityClassName).To(Equal(DefaultCollectorPriorityClass))
			Expect(pod.Spec.Priority).To(HaveValue(BeNumerically("<", 0)), "the shipped PriorityClass puts collectors below every workload")
			Expect(pod.Spec.ActiveDeadlineSeconds).NotTo(BeNil())
			Expect(*pod.Spec.ActiveDeadlineSeconds).To(BeNumerically("<=", timeoutSeconds))
			Expect(*pod.Spec.ActiveDeadlineSeconds).To(BeNumerically(">", 0))
			Expect(pod.Labels).To(HaveKeyWithValue(transport.LabelDiagnosis, string(nd.UID)))
			Expect(pod.Labels).To(HaveKeyWithValue(transport.LabelComponent, transport.ComponentCollector))
			Expect(pod.Labels).To(HaveKeyWithValue(LabelGeneration, "1"))
			Expect(pod.Annotations).To(HaveKeyWithValue(AnnotationDiagnosis, ns+"/web-to-db"))
			Expect(got.Status.Collectors).To(ContainElement(And(
				HaveField("Node", node), HaveField("Pod", pod.Name), HaveField("Phase", diagv1alpha1.CollectorPending))))

			Expect(pod.Spec.Containers).To(HaveLen(1))
			c := pod.Spec.Containers[0]
			Expect(c.Image).To(Equal(collectorImage))
			Expect(c.ImagePullPolicy).To(Equal(corev1.PullIfNotPresent))
			// Not privileged: only the capabilities the collector was measured to need.
			Expect(c.SecurityContext.Privileged).To(BeNil())
			Expect(c.SecurityContext.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
			Expect(c.SecurityContext.Capabilities.Add).To(ConsistOf(corev1.Capability("NET_ADMIN"), corev1.Capability("NET_RAW"),
				corev1.Capability("SYS_ADMIN"), corev1.Capability("SYS_PTRACE")))
			Expect(c.SecurityContext.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))
			Expect(c.Resources.Requests.Cpu().Cmp(resource.MustParse("50m"))).To(Equal(0))
			Expect(c.Resources.Limits.Memory().Cmp(resource.MustParse("256Mi"))).To(Equal(0))
			Expect(c.Env).To(ContainElement(corev1.EnvVar{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"},
			}}))

			cmd := parseCollectorCommand(pod)
			Expect(cmd.node).To(Equal(node))
			Expect(cmd.namespace).To(Equal(controllerNamespace))
			Expect(cmd.uid).To(Equal(string(nd.UID)))
			Expect(cmd.prefix).NotTo(BeEmpty())
			// Home goes straight to the API server, not through the node's Service rules.
			Expect(cmd.apiServers).To(ConsistOf(kubernetesEndpoints(ctx)))
			var podNames []string
			for _, p := range cmd.pods {
				podNames = append(podNames, p.Name)
			}
			if node == node1 {
				// The source and the endpoint on node1, and only those.
				Expect(podNames).To(ConsistOf("web", "db-1"))
				Expect(cmd.probe).To(Equal(map[string]string{
					"--probe-from": "pod:" + ns + "/web", "--probe-to": dbSvc.Spec.ClusterIP,
					"--probe-protocol": "TCP", "--probe-port": "5432",
				}))
			} else {
				Expect(podNames).To(ConsistOf("db-2"))
				Expect(cmd.probe).To(BeEmpty(), "only the source's node probes")
			}
		}
		Expect(pods[node1].Name).NotTo(Equal(pods[node2].Name))
		Expect(parseCollectorCommand(pods[node1]).prefix).NotTo(Equal(parseCollectorCommand(pods[node2]).prefix))

		By("a second diagnosis of the same path getting collectors of its own")
		other := createDiagnosis(ctx, MakeDiagnosis("web-to-db-again", ns).FromPod("web").ToService("db", 5432))
		otherPods := waitForCollectors(ctx, other, node1, node2)
		for node := range pods {
			Expect(otherPods[node].Name).NotTo(Equal(pods[node].Name))
		}
	})

	It("reaches Succeeded with the engine's answer and leaves nothing behind", func(ctx SpecContext) {
		nd := createDiagnosis(ctx, MakeDiagnosis("web-to-db", ns).FromPod("web").ToService("db", 5432).Probe())
		pods := waitForCollectors(ctx, nd, node1, node2)

		By("playing the kubelet: the collectors run")
		for _, pod := range pods {
			setPodPhase(ctx, pod, corev1.PodRunning, nil)
		}
		Eventually(func(g Gomega) {
			got := getDiagnosis(ctx, g, nd)
			for _, c := range got.Status.Collectors {
				g.Expect(c.Phase).To(Equal(diagv1alpha1.CollectorRunning))
			}
		}).Should(Succeed())

		By("playing the collectors: snapshots arrive")
		snaps := map[string]*netstack.NodeSnapshot{}
		for node, pod := range pods {
			snaps[node] = collect(ctx, pod, nodeIP(node))
		}

		got := waitForPhase(ctx, nd, diagv1alpha1.PhaseSucceeded)
		expectEngineAnswer(got, expectedResult(ctx, nd, snaps))
		Expect(got.Status.CompletionTime).NotTo(BeNil())
		Expect(got.Status.Probe).To(Equal(&diagv1alpha1.ProbeResult{Reachable: true, Message: "connected to " + dbSvc.Spec.ClusterIP}))
		for _, typ := range []string{diagv1alpha1.ConditionReady, diagv1alpha1.ConditionEndpointsResolved, diagv1alpha1.ConditionCollected, diagv1alpha1.ConditionDiagnosed} {
			Expect(meta.IsStatusConditionTrue(got.Status.Conditions, typ)).To(BeTrue(), "condition %s in %+v", typ, got.Status.Conditions)
		}
		for _, c := range got.Status.Collectors {
			Expect(c.Phase).To(Equal(diagv1alpha1.CollectorCollected))
		}
		expectNoChildren(ctx, nd)
		Eventually(func(g Gomega) []string { return eventReasons(ctx, g, nd) }).Should(
			ContainElements("Collecting", "Diagnosing", "Succeeded"))
		By("reading the events in the order they happened, each saying what it did")
		Eventually(func(g Gomega) {
			reasons, notes := eventsInOrder(ctx, g, nd)
			g.Expect(reasons).To(Equal([]string{"Collecting", "Diagnosing", "Succeeded"}))
			g.Expect(notes[0]).To(HavePrefix("Collecting the state of nodes "))
			g.Expect(notes[1]).To(HavePrefix("Collected the state of nodes "))
			g.Expect(notes[2]).To(Equal(answerNote(&got.Status)))
		}).Should(Succeed())
		By("reading the conditions in the order the diagnosis went through them, the summary first")
		var types []string
		for _, c := range got.Status.Conditions {
			types = append(types, c.Type)
		}
		Expect(types).To(Equal([]string{diagv1alpha1.ConditionReady, diagv1alpha1.ConditionEndpointsResolved, diagv1alpha1.ConditionAdmitted, diagv1alpha1.ConditionCollected, diagv1alpha1.ConditionDiagnosed}))
	})

	It("shows a real probe that disagrees with the verdict as the engine's suspicion, unchanged", func(ctx SpecContext) {
		nd := createDiagnosis(ctx, MakeDiagnosis("probe-disagrees", ns).FromPod("web").ToPod("db-1", 5432).Probe())
		pods := waitForCollectors(ctx, nd, node1)
		Expect(parseCollectorCommand(pods[node1]).probe).To(HaveKeyWithValue("--probe-from", "pod:"+ns+"/web"))

		By("playing the collector: the snapshot has no routes, yet the probe got through")
		observed := &netstack.ProbeResult{Reachable: true, Message: "TCP connection to " + db1.Status.PodIP + ":5432 established"}
		snaps := map[string]*netstack.NodeSnapshot{node1: collectProbing(ctx, pods[node1], node1IP, observed)}

		got := waitForPhase(ctx, nd, diagv1alpha1.PhaseSucceeded)
		want := expectedResult(ctx, nd, snaps)
		Expect(want.Verdict).To(Equal(diagnose.Unreachable), "the simulation on a snapshot without routes: %s", want.Summary)
		expectEngineAnswer(got, want)
		Expect(got.Status.Verdict).To(Equal(diagv1alpha1.VerdictUnreachable), "the probe never changes the verdict")
		Expect(got.Status.Probe).To(Equal(&diagv1alpha1.ProbeResult{Reachable: true, Message: observed.Message}))

		i := slices.IndexFunc(want.Suspicions, func(s model.Suspicion) bool { return s.Reason == model.ReasonProbeDisagrees })
		Expect(i).To(BeNumerically(">=", 0), "the engine finds the disagreement: %v", want.Suspicions)
		Expect(got.Status.Suspicions).To(ContainElement(suspicion(want.Suspicions[i])))
		Expect(got.Status.Suspicions).To(ContainElement(And(
			HaveField("Level", diagv1alpha1.LevelWarning),
			HaveField("Reason", "ProbeDisagrees"),
			HaveField("Node", node1),
			HaveField("Pod", ns+"/web"),
			HaveField("Message", And(ContainSubstring("says Unreachable"), ContainSubstring("got through"), ContainSubstring(observed.Message))),
		)))
		Expect(got.Status.Summary).To(ContainSubstring("on node " + node1 + " got through (ProbeDisagrees)"))
		expectNoChildren(ctx, nd)
	})

	It("diagnoses between two addresses outside the nodes without collecting", func(ctx SpecContext) {
		nd := createDiagnosis(ctx, MakeDiagnosis("outside", ns).FromIP("203.0.113.7").ToIP("198.51.100.9").Protocol(diagv1alpha1.ProtocolICMP))
		got := waitForPhase(ctx, nd, diagv1alpha1.PhaseSucceeded)
		expectEngineAnswer(got, expectedResult(ctx, nd, map[string]*netstack.NodeSnapshot{}))
		Expect(got.Status.Collectors).To(BeEmpty())
	})

	It("simulates the plugin a diagnosis names with the options it overrides", func(ctx SpecContext) {
		// node1 routes db-2's address to node2 over the underlay, as calico's BGP routes do;
		// node2's collector fails, so the answer rests on node1's state and the plugin's word.
		routed := func(snap *netstack.NodeSnapshot) {
			snap.Host.Routes = append(snap.Host.Routes, netstack.Route{
				Table: netstack.TableMain, Dst: netip.PrefixFrom(netip.MustParseAddr(db2.Status.PodIP), 32),
				Gateway: netip.MustParseAddr(node2IP), Device: "eth0", Protocol: "bird",
			})
		}
		diagnoseAs := func(w *DiagnosisWrapper) *diagv1alpha1.NetworkDiagnosis {
			nd := createDiagnosis(ctx, w.FromNode(node1).ToPod("db-2", 5432))
			pods := waitForCollectors(ctx, nd, node1, node2)
			snaps := map[string]*netstack.NodeSnapshot{node1: collectEdited(ctx, pods[node1], node1IP, nil, routed)}
			setPodPhase(ctx, pods[node2], corev1.PodFailed, &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"})
			got := waitForPhase(ctx, nd, diagv1alpha1.PhaseSucceeded)
			expectEngineAnswer(got, expectedResult(ctx, nd, snaps))
			Expect(meta.FindStatusCondition(got.Status.Conditions, diagv1alpha1.ConditionDiagnosed).Message).To(Equal("Network plugin calico"))
			return got
		}
		missingVXLAN := And(HaveField("Reason", "InterfaceMissing"), HaveField("Node", node1), HaveField("Interface", "vxlan.calico"))

		By("calico as the cluster's defaults have it: routed, as the routes say")
		asRouted := diagnoseAs(MakeDiagnosis("calico-defaults", ns).NetworkPlugin("calico"))
		Expect(asRouted.Status.Suspicions).NotTo(ContainElement(missingVXLAN))

		By("calico in vxlan mode, as the diagnosis says this cluster runs it")
		asVXLAN := diagnoseAs(MakeDiagnosis("calico-vxlan", ns).NetworkPlugin("calico").PluginOption("mode", "vxlan"))
		Expect(asVXLAN.Status.Suspicions).NotTo(BeEmpty())
		Expect(asVXLAN.Status.Suspicions[0]).To(And(missingVXLAN, HaveField("Level", diagv1alpha1.LevelCritical)), "the most severe finding")
	})

	DescribeTable("fails before collecting when the plugin or its options cannot be simulated",
		func(ctx SpecContext, w *DiagnosisWrapper, reason string, message []string) {
			w.Namespace = ns
			nd := createDiagnosis(ctx, w.FromPod("web").ToPod("db-2", 5432))
			got := waitForPhase(ctx, nd, diagv1alpha1.PhaseFailed)
			cond := meta.FindStatusCondition(got.Status.Conditions, diagv1alpha1.ConditionDiagnosed)
			Expect(cond).NotTo(BeNil())
			Expect(cond.Reason).To(Equal(reason))
			for _, m := range message {
				Expect(cond.Message).To(ContainSubstring(m))
			}
			Expect(got.Status.Summary).To(Equal(cond.Message))
			Consistently(func(g Gomega) map[string]*corev1.Pod { return collectorPods(ctx, g, nd) }).Should(BeEmpty())
		},
		Entry("a plugin nobody knows", MakeDiagnosis("nosuch", "").NetworkPlugin("nosuch"),
			diagv1alpha1.ReasonPluginUnknown, []string{`"nosuch" is not known`, "supported: " + strings.Join(plugins.Registry().Simulated(), ", ")}),
		Entry("a plugin recognised but not simulated", MakeDiagnosis("antrea", "").NetworkPlugin("antrea"),
			diagv1alpha1.ReasonPluginUnknown, []string{`"antrea" is recognised but not simulated`, "supported: " + strings.Join(plugins.Registry().Simulated(), ", ")}),
		Entry("an option the plugin does not have", MakeDiagnosis("no-option", "").NetworkPlugin("calico").PluginOption("backend", "vxlan"),
			diagv1alpha1.ReasonPluginConfigInvalid, []string{`no option "backend"`, "mode", "interface-prefix", "vxlan-device"}),
		Entry("a value the plugin does not accept", MakeDiagnosis("bad-mode", "").NetworkPlugin("calico").PluginOption("mode", "bgp"),
			diagv1alpha1.ReasonPluginConfigInvalid, []string{`--calico-mode "bgp"`, "routed"}),
	)

	It("fails with a condition naming a missing source pod", func(ctx SpecContext) {
		nd := createDiagnosis(ctx, MakeDiagnosis("ghost", ns).FromPod("ghost").ToService("db", 5432))
		got := waitForPhase(ctx, nd, diagv1alpha1.PhaseFailed)
		cond := meta.FindStatusCondition(got.Status.Conditions, diagv1alpha1.ConditionEndpointsResolved)
		Expect(cond).NotTo(BeNil())
		Expect(cond.Status).To(Equal(metav1.ConditionFalse))
		Expect(cond.Reason).To(Equal(diagv1alpha1.ReasonSourceNotFound))
		Expect(cond.Message).To(ContainSubstring("pod " + ns + "/ghost"))
		Expect(meta.IsStatusConditionFalse(got.Status.Conditions, diagv1alpha1.ConditionReady)).To(BeTrue())
		Expect(got.Status.CompletionTime).NotTo(BeNil())
		Consistently(func(g Gomega) map[string]*corev1.Pod { return collectorPods(ctx, g, nd) }).Should(BeEmpty())
	})

	It("fails with a condition naming a missing destination service", func(ctx SpecContext) {
		nd := createDiagnosis(ctx, MakeDiagnosis("no-svc", ns).FromPod("web").ToService("nope", 80))
		got := waitForPhase(ctx, nd, diagv1alpha1.PhaseFailed)
		cond := meta.FindStatusCondition(got.Status.Conditions, diagv1alpha1.ConditionEndpointsResolved)
		Expect(cond.Reason).To(Equal(diagv1alpha1.ReasonDestNotFound))
		Expect(cond.Message).To(ContainSubstring("service " + ns + "/nope"))
	})

	It("fails when the only collector fails, saying which node and why", func(ctx SpecContext) {
		nd := createDiagnosis(ctx, MakeDiagnosis("web-to-db1", ns).FromPod("web").ToPod("db-1", 5432))
		pods := waitForCollectors(ctx, nd, node1)
		setPodPhase(ctx, pods[node1], corev1.PodFailed, &corev1.ContainerStateTerminated{
			ExitCode: 2, Reason: "Error", Message: "read routes: operation not permitted",
		})
		got := waitToFail(ctx, nd, diagv1alpha1.ConditionCollected, diagv1alpha1.ReasonCollectorFailed,
			"node "+node1, "exited with code 2 (Error): read routes: operation not permitted")
		Expect(got.Status.Collectors).To(ConsistOf(HaveField("Phase", diagv1alpha1.CollectorFailed)))
		expectNoChildren(ctx, nd)
		Eventually(func(g Gomega) []string { return eventReasons(ctx, g, nd) }).Should(ContainElement(diagv1alpha1.ReasonCollectorFailed))
	})

	It("answers from the nodes that reported when another collector fails, and says so", func(ctx SpecContext) {
		nd := createDiagnosis(ctx, MakeDiagnosis("partial", ns).FromPod("web").ToService("db", 5432))
		pods := waitForCollectors(ctx, nd, node1, node2)
		snaps := map[string]*netstack.NodeSnapshot{node1: collect(ctx, pods[node1], node1IP)}
		setPodPhase(ctx, pods[node2], corev1.PodFailed, &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"})

		got := waitForPhase(ctx, nd, diagv1alpha1.PhaseSucceeded)
		expectEngineAnswer(got, expectedResult(ctx, nd, snaps))
		Expect(got.Status.Summary).To(ContainSubstring("partial: not collected from " + node2))
		cond := meta.FindStatusCondition(got.Status.Conditions, diagv1alpha1.ConditionCollected)
		Expect(cond.Status).To(Equal(metav1.ConditionFalse))
		Expect(cond.Message).To(ContainSubstring("node " + node2 + ": Collector pod failed: container collect exited with code 137 (OOMKilled)"))
		expectNoChildren(ctx, nd)
	})

	It("fails with a Timeout condition when a node never reports", func(ctx SpecContext) {
		nd := createDiagnosis(ctx, MakeDiagnosis("slow", ns).FromPod("web").ToService("db", 5432).Timeout(metav1.Duration{Duration: 30 * time.Second}))
		pods := waitForCollectors(ctx, nd, node1, node2)
		setPodPhase(ctx, pods[node2], corev1.PodRunning, nil)
		waitForPhase(ctx, nd, diagv1alpha1.PhaseCollecting)
		Consistently(func(g Gomega) diagv1alpha1.Phase { return getDiagnosis(ctx, g, nd).Status.Phase }, "1s").
			Should(Equal(diagv1alpha1.PhaseCollecting))

		fakeClock.Step(31 * time.Second)
		poke(ctx, nd)
		got := waitForPhase(ctx, nd, diagv1alpha1.PhaseFailed)
		cond := meta.FindStatusCondition(got.Status.Conditions, diagv1alpha1.ConditionCollected)
		Expect(cond.Reason).To(Equal(diagv1alpha1.ReasonTimeout))
		Expect(cond.Message).To(ContainSubstring("node " + node1 + ": No snapshot from node " + node1 + " within 30s (Collector pod is pending)"))
		Expect(cond.Message).To(ContainSubstring("node " + node2 + ": No snapshot from node " + node2 + " within 30s (Collecting)"))
		expectNoChildren(ctx, nd)
	})

	It("removes its collectors and snapshots when deleted mid-run", func(ctx SpecContext) {
		nd := createDiagnosis(ctx, MakeDiagnosis("deleted", ns).FromPod("web").ToService("db", 5432))
		pods := waitForCollectors(ctx, nd, node1, node2)
		setPodPhase(ctx, pods[node2], corev1.PodRunning, nil)
		// One node uploaded, the other is still at work.
		upload(ctx, pods[node1], &netstack.NodeSnapshot{Version: netstack.Version, Node: node1})

		Expect(k8sClient.Delete(ctx, nd)).To(Succeed())
		Eventually(func() error {
			return k8sClient.Get(ctx, client.ObjectKeyFromObject(nd), &diagv1alpha1.NetworkDiagnosis{})
		}).Should(Satisfy(func(err error) bool { return client.IgnoreNotFound(err) == nil && err != nil }))
		expectNoChildren(ctx, nd)
	})

	It("deletes snapshots and collector pods whose diagnosis is gone", func(ctx SpecContext) {
		nd := createDiagnosis(ctx, MakeDiagnosis("short-lived", ns).FromPod("web").ToPod("db-1", 5432))
		pods := waitForCollectors(ctx, nd, node1)
		Expect(k8sClient.Delete(ctx, nd)).To(Succeed())
		expectNoChildren(ctx, nd)

		By("a collector uploading after its diagnosis was deleted")
		upload(ctx, pods[node1], &netstack.NodeSnapshot{Version: netstack.Version, Node: node1})
		By("a collector pod left behind")
		stray := pods[node1].DeepCopy()
		stray.ObjectMeta = metav1.ObjectMeta{Name: stray.Name, Namespace: stray.Namespace, Labels: stray.Labels}
		stray.Status = corev1.PodStatus{}
		Expect(k8sClient.Create(ctx, stray)).To(Succeed())
		expectNoChildren(ctx, nd)
	})

	It("picks up where it was after a controller restart, without a second collector", func(ctx SpecContext) {
		nd := createDiagnosis(ctx, MakeDiagnosis("restart", ns).FromPod("web").ToService("db", 5432))
		pods := waitForCollectors(ctx, nd, node1, node2)
		snaps := map[string]*netstack.NodeSnapshot{node1: collect(ctx, pods[node1], node1IP)}
		Eventually(func(g Gomega) {
			got := getDiagnosis(ctx, g, nd)
			g.Expect(got.Status.Collectors).To(ContainElement(HaveField("Phase", diagv1alpha1.CollectorCollected)))
		}).Should(Succeed())

		By("stopping the controller mid-run and starting a new one")
		stopManager()
		stopManager = startManager()

		Consistently(func(g Gomega) {
			now := collectorPods(ctx, g, nd)
			g.Expect(now).To(HaveLen(2))
			for node, pod := range now {
				g.Expect(pod.UID).To(Equal(pods[node].UID), "the collector on %s was replaced", node)
			}
		}).Should(Succeed())

		snaps[node2] = collect(ctx, pods[node2], node2IP)
		got := waitForPhase(ctx, nd, diagv1alpha1.PhaseSucceeded)
		expectEngineAnswer(got, expectedResult(ctx, nd, snaps))
		expectNoChildren(ctx, nd)
	})

	It("reruns on a spec change and not on an unchanged re-apply", func(ctx SpecContext) {
		nd := createDiagnosis(ctx, MakeDiagnosis("rerun", ns).FromPod("web").ToPod("db-1", 5432))
		pods := waitForCollectors(ctx, nd, node1)
		collect(ctx, pods[node1], node1IP)
		first := waitForPhase(ctx, nd, diagv1alpha1.PhaseSucceeded)
		expectNoChildren(ctx, nd)

		By("re-applying the same spec")
		same := first.DeepCopy()
		Expect(k8sClient.Update(ctx, same)).To(Succeed())
		Expect(same.Generation).To(Equal(first.Generation))
		Consistently(func(g Gomega) {
			got := getDiagnosis(ctx, g, nd)
			g.Expect(got.Status.Phase).To(Equal(diagv1alpha1.PhaseSucceeded))
			g.Expect(got.Status.StartTime).To(Equal(first.Status.StartTime))
			g.Expect(collectorPods(ctx, g, nd)).To(BeEmpty())
		}).Should(Succeed())

		By("changing the destination")
		changed := getDiagnosis(ctx, Default, nd)
		changed.Spec.Destination.Pod.Name = "db-2"
		Expect(k8sClient.Update(ctx, changed)).To(Succeed())
		Expect(changed.Generation).To(Equal(first.Generation + 1))
		pods = waitForCollectors(ctx, nd, node1, node2)
		for _, pod := range pods {
			Expect(pod.Labels).To(HaveKeyWithValue(LabelGeneration, strconv.FormatInt(changed.Generation, 10)))
		}
		got := waitForPhase(ctx, nd, diagv1alpha1.PhaseCollecting)
		Expect(got.Status.DestinationSummary).To(ContainSubstring("db-2"))
		Expect(got.Status.Verdict).To(BeEmpty(), "the previous answer is gone")

		By("changing it again mid-run")
		// As kubectl apply does: a patch of the spec, which the controller's status patches
		// in flight cannot make conflict.
		changed = getDiagnosis(ctx, Default, nd)
		before := changed.DeepCopy()
		changed.Spec.Port = ptrInt32(5433)
		Expect(k8sClient.Patch(ctx, changed, client.MergeFrom(before))).To(Succeed())
		Eventually(func(g Gomega) {
			reapTerminating(ctx, g)
			now := collectorPods(ctx, g, nd)
			g.Expect(now).To(HaveLen(2))
			for node, pod := range now {
				g.Expect(pod.Labels).To(HaveKeyWithValue(LabelGeneration, strconv.FormatInt(changed.Generation, 10)))
				g.Expect(pod.Name).NotTo(Equal(pods[node].Name))
			}
		}).Should(Succeed())
		snaps := map[string]*netstack.NodeSnapshot{}
		for node, pod := range collectorPods(ctx, Default, nd) {
			snaps[node] = collect(ctx, pod, nodeIP(node))
		}
		got = waitForPhase(ctx, nd, diagv1alpha1.PhaseSucceeded)
		Expect(got.Status.ObservedGeneration).To(Equal(changed.Generation))
		expectEngineAnswer(got, expectedResult(ctx, got, snaps))
		expectNoChildren(ctx, nd)
		Eventually(func(g Gomega) []string { return eventReasons(ctx, g, nd) }).Should(ContainElement(diagv1alpha1.ReasonSpecChanged))
	})

	It("deletes a finished diagnosis when ttlSecondsAfterFinished expires", func(ctx SpecContext) {
		nd := createDiagnosis(ctx, MakeDiagnosis("ttl", ns).FromPod("ghost").ToService("db", 5432).TTL(120))
		waitForPhase(ctx, nd, diagv1alpha1.PhaseFailed)
		Consistently(func() error {
			return k8sClient.Get(ctx, client.ObjectKeyFromObject(nd), &diagv1alpha1.NetworkDiagnosis{})
		}, "1s").Should(Succeed())

		fakeClock.Step(121 * time.Second)
		poke(ctx, nd)
		Eventually(func() bool {
			err := k8sClient.Get(ctx, client.ObjectKeyFromObject(nd), &diagv1alpha1.NetworkDiagnosis{})
			return client.IgnoreNotFound(err) == nil && err != nil
		}).Should(BeTrue())
	})
})

func ptrInt32(v int32) *int32 { return &v }
