package controllers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/netnsutil"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/transport"
)

// Here the collector is not played: the real `netdiag collect` binary runs as the collector
// pod's command, inside network namespaces that stand for a node and its pods, as the
// collector's service account, and uploads to the envtest API server. The test plays only
// the kubelet: it runs the container's command and args as the pod spec says, with the
// downward API's values, and reports the exit code as the pod's phase.

// netnsPrefix names every network namespace this suite creates.
const netnsPrefix = "ndt-ctl-"

var _ = Describe("The real collector binary", func() {
	It("collects a node and its pods, probes, uploads as the collector, and the diagnosis completes from it", func(ctx SpecContext) {
		if os.Geteuid() != 0 {
			Skip("the real collector needs root to create network namespaces and read them (CI runs as root)")
		}
		if _, err := exec.LookPath("ip"); err != nil {
			Skip("the real collector test needs iproute2's ip command (hack/install-deps.sh installs it)")
		}
		image := buildNetdiag(ctx)
		kubeconfig := collectorKubeconfig(ctx)

		ns := newNamespace(ctx)
		node := ns + "-n1"
		nodeIP := nextIP("172.31.0.0")
		clientIP, serverIP := netip.MustParseAddr("100.66.1.2"), netip.MustParseAddr("100.66.2.2")
		const port = 8080

		By("laying the node's and the pods' network namespaces, wired by veths")
		sfx := ns[strings.LastIndex(ns, "-")+1:]
		nodeNS, clientNS, serverNS := netnsPrefix+sfx+"-node", netnsPrefix+sfx+"-client", netnsPrefix+sfx+"-server"
		underlayNS := netnsPrefix + sfx + "-net"
		for _, name := range []string{nodeNS, clientNS, serverNS, underlayNS} {
			addNetNS(name)
		}
		// The node's uplink, a veth to a namespace standing for the network between nodes.
		ipCmd("-n", nodeNS, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", underlayNS)
		ipCmd("-n", nodeNS, "addr", "add", nodeIP+"/24", "dev", "eth0")
		ipCmd("-n", nodeNS, "link", "set", "eth0", "up")
		ipCmd("-n", underlayNS, "link", "set", "eth0", "up")
		wirePod(nodeNS, clientNS, "ndc-client", clientIP)
		wirePod(nodeNS, serverNS, "ndc-server", serverIP)
		Expect(netnsutil.DoNamed(nodeNS, func() error {
			return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644)
		})).To(Succeed())
		serveTCP(serverNS, netip.AddrPortFrom(serverIP, port))
		// The collector inside the node's namespace reaches the API server as a pod on the
		// host network would; here through a relay from the namespace's loopback.
		relayAPIServer(nodeNS)

		createNode(ctx, MakeNode(node).IP(nodeIP).PodCIDR("100.66.0.0/16"))
		createPod(ctx, MakePod("client", ns).On(node, clientIP.String()))
		createPod(ctx, MakePod("server", ns).On(node, serverIP.String()).ContainerPort(port))
		nd := createDiagnosis(ctx, MakeDiagnosis("real-collector", ns).FromPod("client").ToPod("server", port).Probe())
		pod := waitForCollectors(ctx, nd, node)[node]

		By("playing the kubelet: running the collector pod's command in the node's namespace")
		setPodPhase(ctx, pod, corev1.PodRunning, nil)
		exit, output := runContainer(ctx, pod, image, nodeNS, "--kubeconfig", kubeconfig)
		// Read what the binary uploaded before the finished diagnosis's cleanup deletes it.
		cms := &corev1.ConfigMapList{}
		Expect(k8sClient.List(ctx, cms, client.InNamespace(controllerNamespace), client.MatchingLabels{
			transport.LabelDiagnosis: string(nd.UID), transport.LabelComponent: transport.ComponentSnapshot,
		})).To(Succeed())
		if exit == 0 {
			setPodPhase(ctx, pod, corev1.PodSucceeded, &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"})
		} else {
			setPodPhase(ctx, pod, corev1.PodFailed, &corev1.ContainerStateTerminated{ExitCode: int32(exit), Reason: "Error", Message: lastLines(output, 5)})
		}
		Expect(exit).To(BeZero(), "netdiag collect:\n%s", output)
		snap, complete, err := transport.Decode(cms.Items)
		Expect(err).NotTo(HaveOccurred())
		Expect(complete).To(BeTrue(), "the uploaded chunks are complete")

		By("checking that the snapshot is the kernel's state of those namespaces")
		Expect(snap.Node).To(Equal(node))
		Expect(snap.Host.Errors).To(BeEmpty())
		Expect(snap.Host.Interfaces).To(ContainElement(And(
			HaveField("Name", "ndc-client"), HaveField("Kind", "veth"),
			HaveField("Addresses", ContainElement(netip.MustParsePrefix("100.66.1.1/24"))))))
		Expect(snap.Host.Sysctls).To(HaveKeyWithValue("ipv4/ip_forward", "1"))
		Expect(snap.Pods).To(HaveLen(2))
		for _, p := range snap.Pods {
			Expect(p.Errors).To(BeEmpty(), "pod %v", p.Pod)
			want := filepath.Join(netnsDir, clientNS)
			if p.Pod.Name == "server" {
				want = filepath.Join(netnsDir, serverNS)
				Expect(p.Listening).To(ContainElement(netstack.Socket{Protocol: "TCP", Address: netip.AddrPortFrom(serverIP, port)}))
			}
			Expect(p.NetNS).To(Equal(want), "the namespace holding pod %s's address", p.Pod.Name)
		}
		Expect(snap.Probe).To(Equal(&netstack.ProbeResult{Reachable: true, Message: fmt.Sprintf("TCP connection to %s established", netip.AddrPortFrom(serverIP, port))}))

		By("checking that the diagnosis completes from the upload")
		got := waitForPhase(ctx, nd, diagv1alpha1.PhaseSucceeded)
		GinkgoWriter.Printf("Summary: %s\nSuspicions: %+v\n", got.Status.Summary, got.Status.Suspicions)
		want := expectedResult(ctx, nd, map[string]*netstack.NodeSnapshot{node: snap})
		expectEngineAnswer(got, want)
		Expect(got.Status.Verdict).To(Equal(diagv1alpha1.VerdictReachable), "summary: %s", got.Status.Summary)
		Expect(got.Status.Collectors).To(ConsistOf(HaveField("Phase", diagv1alpha1.CollectorCollected)))
		Expect(got.Status.Probe).To(Equal(&diagv1alpha1.ProbeResult{Reachable: true, Message: snap.Probe.Message}))
		Expect(got.Status.Suspicions).NotTo(ContainElement(HaveField("Reason", "ProbeDisagrees")))
		Expect(got.Status.PacketPath).NotTo(BeNil())
		Expect(got.Status.PacketPath.Links).To(ContainElement(And(
			HaveField("From", "pod/"+ns+"/client"), HaveField("Type", "veth"),
			HaveField("FromInterface", "eth0"), HaveField("ToInterface", "ndc-client"))))
		Expect(got.Status.PacketPath.Links).To(ContainElement(And(
			HaveField("To", "pod/"+ns+"/server"), HaveField("FromInterface", "ndc-server"), HaveField("ToInterface", "eth0"))))
		expectNoChildren(ctx, nd)
	})
})

// buildNetdiag builds the netdiag binary into a directory that stands for the collector's
// image, and returns the directory.
func buildNetdiag(ctx context.Context) string {
	GinkgoHelper()
	dir := GinkgoT().TempDir()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, "netdiag"), "github.com/netdiag/netdiag").CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "go build netdiag:\n%s", out)
	return dir
}

// collectorKubeconfig grants the collector's service account what config/collector gives it
// and returns a kubeconfig that authenticates as that account: the upload is checked against
// the collector's real permissions.
func collectorKubeconfig(ctx context.Context) string {
	GinkgoHelper()
	data, err := os.ReadFile(filepath.Join("..", "config", "collector", "collector_rbac.yaml"))
	Expect(err).NotTo(HaveOccurred())
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
			break
		} else {
			Expect(err).NotTo(HaveOccurred())
		}
		if len(obj.Object) == 0 {
			continue
		}
		if err := k8sClient.Create(ctx, obj); !apierrors.IsAlreadyExists(err) {
			Expect(err).NotTo(HaveOccurred(), "create %s %s", obj.GetKind(), obj.GetName())
		}
	}
	user, err := testEnv.AddUser(envtest.User{
		Name:   "system:serviceaccount:" + controllerNamespace + ":" + CollectorServiceAccount,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + controllerNamespace},
	}, nil)
	Expect(err).NotTo(HaveOccurred())
	kc, err := user.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(GinkgoT().TempDir(), "collector.kubeconfig")
	Expect(os.WriteFile(path, kc, 0o600)).To(Succeed())
	return path
}

// runContainer plays the kubelet starting the collector pod's only container: its command
// (found in image, the directory standing for the container image) and args exactly as the
// pod spec says, plus extra, with the container's env (downward API values resolved), in the
// network namespace standing for the pod's node (a hostNetwork pod). It returns the exit code
// and the combined output.
func runContainer(ctx context.Context, pod *corev1.Pod, image, nodeNS string, extra ...string) (int, string) {
	GinkgoHelper()
	Expect(pod.Spec.HostNetwork).To(BeTrue())
	Expect(pod.Spec.Containers).To(HaveLen(1))
	c := pod.Spec.Containers[0]
	Expect(c.Command).NotTo(BeEmpty())
	argv := append(append(append([]string{}, c.Command...), c.Args...), extra...)
	// envtest's API server lists itself in the kubernetes EndpointSlice at 192.0.2.2, a
	// documentation address nothing listens on, while it really listens on cfg.Host: the
	// endpoint the controller hands over is taken to where this API server is, as a
	// cluster's network would take it to its API server.
	apiServer, err := url.Parse(cfg.Host)
	Expect(err).NotTo(HaveOccurred())
	for i := range argv[:len(argv)-1] {
		if argv[i] == "--api-server" {
			argv[i+1] = apiServer.Host
		}
	}
	if !strings.Contains(argv[0], "/") {
		argv[0] = filepath.Join(image, argv[0])
	}
	env := []string{"PATH=" + os.Getenv("PATH")}
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil {
			Expect(e.ValueFrom.FieldRef).NotTo(BeNil(), "env %s: only the downward API's fields are played", e.Name)
			v = fieldValue(pod, e.ValueFrom.FieldRef.FieldPath)
		}
		env = append(env, e.Name+"="+v)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// A child forked from a thread inside the namespace starts there.
	Expect(netnsutil.DoNamed(nodeNS, cmd.Start)).To(Succeed())
	err = cmd.Wait()
	GinkgoWriter.Printf("netdiag collect (%s):\n%s\n", strings.Join(argv[1:], " "), out.String())
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String()
	}
	Fail(fmt.Sprintf("run %s: %v", argv[0], err))
	return -1, ""
}

// fieldValue is the downward API's value of a field of pod.
func fieldValue(pod *corev1.Pod, path string) string {
	GinkgoHelper()
	switch path {
	case "spec.nodeName":
		return pod.Spec.NodeName
	case "metadata.name":
		return pod.Name
	case "metadata.uid":
		return string(pod.UID)
	case "metadata.namespace":
		return pod.Namespace
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName
	}
	Fail("the test kubelet does not know the downward API field " + path)
	return ""
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// ipCmd runs `ip args...`; it never touches the root namespace (every call names one).
func ipCmd(args ...string) {
	GinkgoHelper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "ip %s: %s", strings.Join(args, " "), out)
}

// addNetNS creates a named network namespace with its loopback up, deleted when the spec
// ends, whatever its outcome.
func addNetNS(name string) {
	GinkgoHelper()
	Expect(name).To(HavePrefix(netnsPrefix))
	ipCmd("netns", "add", name)
	DeferCleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			GinkgoWriter.Printf("delete network namespace %s: %v: %s\n", name, err, out)
		}
	})
	ipCmd("-n", name, "link", "set", "lo", "up")
}

// wirePod joins podNS to nodeNS by a veth, hostDev on the node and eth0 in the pod, the pod
// at ip/24 routed by default through the node's end at the subnet's first address.
func wirePod(nodeNS, podNS, hostDev string, ip netip.Addr) {
	GinkgoHelper()
	subnet := netip.PrefixFrom(ip, 24).Masked()
	gw := subnet.Addr().Next()
	ipCmd("-n", nodeNS, "link", "add", hostDev, "type", "veth", "peer", "name", "eth0", "netns", podNS)
	ipCmd("-n", nodeNS, "addr", "add", netip.PrefixFrom(gw, 24).String(), "dev", hostDev)
	ipCmd("-n", nodeNS, "link", "set", hostDev, "up")
	ipCmd("-n", podNS, "addr", "add", netip.PrefixFrom(ip, 24).String(), "dev", "eth0")
	ipCmd("-n", podNS, "link", "set", "eth0", "up")
	ipCmd("-n", podNS, "route", "add", "default", "via", gw.String())
}

// acceptIn listens on addr (TCP) inside the named namespace until the spec ends, and hands
// each connection to handle on its own goroutine.
func acceptIn(name, addr string, handle func(net.Conn)) {
	GinkgoHelper()
	var ln net.Listener
	Expect(netnsutil.DoNamed(name, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})).To(Succeed())
	DeferCleanup(ln.Close)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(conn)
		}
	}()
}

// serveTCP listens on addr inside the named namespace, accepting and closing connections,
// until the spec ends.
func serveTCP(name string, addr netip.AddrPort) {
	GinkgoHelper()
	acceptIn(name, addr.String(), func(conn net.Conn) { _ = conn.Close() })
}

// relayAPIServer listens inside the named namespace on the loopback address and port of the
// envtest API server, and relays each connection to the API server in the root namespace:
// a client in the namespace uses the API server's own URL and certificate.
func relayAPIServer(name string) {
	GinkgoHelper()
	u, err := url.Parse(cfg.Host)
	Expect(err).NotTo(HaveOccurred())
	target := u.Host
	acceptIn(name, target, func(in net.Conn) {
		defer in.Close()
		out, err := net.DialTimeout("tcp", target, 5*time.Second)
		if err != nil {
			return
		}
		defer out.Close()
		done := make(chan struct{})
		go func() {
			_, _ = io.Copy(out, in)
			if tc, ok := out.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			close(done)
		}()
		_, _ = io.Copy(in, out)
		if tc, ok := in.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		<-done
	})
}
