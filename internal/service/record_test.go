//go:build record

package service

// The fixtures in testdata/ are recorded from the real kube-proxy, not written by hand:
//
//	go test -tags record -run TestRecord -v ./internal/service/
//
// (as root). The test makes a network namespace (ndt-svc-rec-<pid>) that plays node-a, starts
// etcd and kube-apiserver inside it on its own loopback, creates the Nodes, Pods, Services and
// EndpointSlices below through the API, runs kube-proxy in each mode against them, waits until
// the rules name every service port, and saves the rules and the objects. Nothing is sent on
// any network; the namespace is deleted at the end, also when the test fails.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

const recordInnerEnv = "NDT_SVC_RECORD_INNER"

// TestRecord records testdata/cluster.yaml and testdata/iptables.
func TestRecord(t *testing.T) {
	if os.Getenv(recordInnerEnv) != "" {
		recordInside(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("recording needs root to make a network namespace")
	}
	ns := fmt.Sprintf("ndt-svc-rec-%d", os.Getpid())
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	// node-a's own addresses, inside the namespace only.
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"},
		{"link", "set", "eth0-peer", "up"},
		{"addr", "add", "172.18.0.2/24", "dev", "eth0"},
		{"link", "set", "eth0", "up"},
		{"route", "add", "default", "via", "172.18.0.1", "dev", "eth0"},
	} {
		run(t, "ip", append([]string{"-n", ns}, args...)...)
	}
	out, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, os.Args[0], "-test.run", "^TestRecord$", "-test.v")
	cmd.Env = append(os.Environ(), recordInnerEnv+"=1", "NDT_SVC_RECORD_OUT="+out)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("record inside namespace %s: %v", ns, err)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func recordInside(t *testing.T) {
	out := os.Getenv("NDT_SVC_RECORD_OUT")
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: filepath.Join(root, "bin", "k8s", "current")}
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.96.0.0/16")
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	objs := createFixtureObjects(t, ctx, c)

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	// nftables mode is left out: on this machine kube-proxy's nftables mode reports each sync
	// complete, yet no "table ip kube-proxy" is ever listed in the namespace, so there is
	// nothing true to record. Add "nftables" here once it is.
	for _, mode := range []string{"iptables"} {
		t.Run(mode, func(t *testing.T) {
			stop := startKubeProxy(t, ctx, kubeconfig, mode)
			defer stop()
			dir := filepath.Join(out, mode)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			switch mode {
			case "iptables":
				rules := waitFor(t, func() string { return run(t, "iptables-save", "-c") }, expectedIPTablesComments)
				write(t, filepath.Join(dir, "node-a.iptables"), rules)
			case "nftables":
				text := waitFor(t, func() string { return run(t, "nft", "list", "ruleset") }, expectedNFTComments)
				write(t, filepath.Join(dir, "node-a.nft"), text)
				write(t, filepath.Join(dir, "node-a.nft.json"), run(t, "nft", "-j", "list", "ruleset"))
			}
		})
	}

	// The API server's own Service is in the rules too, so it belongs in the objects.
	kubeSvc := &corev1.Service{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "kubernetes"}, kubeSvc); err != nil {
		t.Fatal(err)
	}
	kubeSlice := &discoveryv1.EndpointSlice{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "kubernetes"}, kubeSlice); err != nil {
		t.Fatal(err)
	}
	objs = append(objs, kubeSvc, kubeSlice)
	write(t, filepath.Join(out, "cluster.yaml"), string(listYAML(t, objs)))
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Every service port the rules must name before they count as synced.
var expectedIPTablesComments = []string{
	`"shop/web:http cluster IP"`, `"shop/web:https cluster IP"`, `"shop/empty has no endpoints"`,
	`"shop/nodeport cluster IP"`, `"shop/local-np has no local endpoints"`, `"shop/local-lb loadbalancer IP"`,
	`"shop/sticky cluster IP"`, `"shop/dns:dns cluster IP"`, `"shop/dns:dns-tcp cluster IP"`,
	`"shop/api cluster IP"`, `"shop/internal-local has no local endpoints"`, `"shop/ext external IP"`,
}

var expectedNFTComments = []string{"shop/web:http", "shop/empty", "shop/local-lb", "shop/ext", "shop/internal-local", "shop/api"}

func waitFor(t *testing.T, read func() string, want []string) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		text := read()
		missing := ""
		for _, w := range want {
			if !strings.Contains(text, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			// One more sync period's worth, so that the rules are the settled ones.
			time.Sleep(2 * time.Second)
			return read()
		}
		if time.Now().After(deadline) {
			t.Fatalf("rules never named %s; last read:\n%s", missing, text)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func startKubeProxy(t *testing.T, ctx context.Context, kubeconfig, mode string) func() {
	t.Helper()
	root, _ := filepath.Abs("../..")
	var log bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(root, "bin", "k8s", "current", "kube-proxy"),
		"--kubeconfig", kubeconfig,
		"--proxy-mode", mode,
		"--conntrack-max-per-core", "0",
		"--hostname-override", "node-a",
		"--cluster-cidr", "10.244.0.0/16",
		"--healthz-bind-address", "127.0.0.1:10256",
		"--metrics-bind-address", "127.0.0.1:10249",
		"--v", "2",
	)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kube-proxy: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("kube-proxy log:\n%s", log.String())
		}
		// Leave the next mode a clean table, as kube-proxy --cleanup would.
		_ = exec.Command(cmd.Path, "--cleanup").Run()
	}
}

func listYAML(t *testing.T, objs []client.Object) []byte {
	t.Helper()
	var items []any
	for _, o := range objs {
		gvk, err := apiutil.GVKForObject(o, scheme.Scheme)
		if err != nil {
			t.Fatal(err)
		}
		o.GetObjectKind().SetGroupVersionKind(gvk)
		// Fields that change on every recording and that the engine never reads.
		o.SetManagedFields(nil)
		o.SetResourceVersion("")
		o.SetUID("")
		o.SetCreationTimestamp(metav1.Time{})
		o.SetGeneration(0)
		items = append(items, o)
	}
	b, err := yaml.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type fixturePod struct {
	name, node, ip string
	ports          []corev1.ContainerPort
}

var fixturePods = []fixturePod{
	{"web-1", "node-a", "10.244.1.11", []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "https", ContainerPort: 8443}}},
	{"web-2", "node-a", "10.244.1.12", []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "https", ContainerPort: 8443}}},
	{"web-3", "node-b", "10.244.2.13", []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "https", ContainerPort: 8443}}},
	{"web-4", "node-b", "10.244.2.14", []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "https", ContainerPort: 8443}}},
	{"db-1", "node-b", "10.244.2.21", []corev1.ContainerPort{{Name: "pg", ContainerPort: 5432}}},
	{"dns-1", "node-a", "10.244.1.31", []corev1.ContainerPort{{Name: "dns", ContainerPort: 5353, Protocol: corev1.ProtocolUDP}, {Name: "dns-tcp", ContainerPort: 5353}}},
	{"dns-2", "node-b", "10.244.2.32", []corev1.ContainerPort{{Name: "dns", ContainerPort: 5353, Protocol: corev1.ProtocolUDP}, {Name: "dns-tcp", ContainerPort: 5353}}},
	{"api-1", "node-a", "10.244.1.41", []corev1.ContainerPort{{Name: "http-api", ContainerPort: 8081}}},
}

// ep is an endpoint of a slice: a pod, and whether it is ready/serving/terminating.
type ep struct {
	pod                         string
	ready, serving, terminating bool
}

func up(pod string) ep { return ep{pod: pod, ready: true, serving: true} }

type fixtureService struct {
	svc corev1.Service
	// slicePorts are the resolved target ports, by service port name.
	slicePorts []discoveryv1.EndpointPort
	endpoints  []ep
	lbIngress  string
}

func tcp(name string, port int32, target intstr.IntOrString) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: corev1.ProtocolTCP, Port: port, TargetPort: target}
}

func slicePort(name string, proto corev1.Protocol, port int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr.To(name), Protocol: ptr.To(proto), Port: ptr.To(port)}
}

func fixtureServices() []fixtureService {
	svc := func(name, ip string, spec corev1.ServiceSpec) corev1.Service {
		spec.ClusterIP = ip
		spec.ClusterIPs = []string{ip}
		if spec.Type == "" {
			spec.Type = corev1.ServiceTypeClusterIP
		}
		spec.Selector = map[string]string{"app": name}
		return corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}, Spec: spec}
	}
	return []fixtureService{
		{
			svc: svc("web", "10.96.0.10", corev1.ServiceSpec{Ports: []corev1.ServicePort{
				tcp("http", 80, intstr.FromInt32(8080)), tcp("https", 443, intstr.FromInt32(8443)),
			}}),
			slicePorts: []discoveryv1.EndpointPort{slicePort("http", corev1.ProtocolTCP, 8080), slicePort("https", corev1.ProtocolTCP, 8443)},
			endpoints:  []ep{up("web-1"), up("web-2"), up("web-3"), {pod: "web-4", serving: true, terminating: true}},
		},
		{
			svc:        svc("empty", "10.96.0.11", corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("", 80, intstr.FromInt32(8080))}}),
			slicePorts: []discoveryv1.EndpointPort{slicePort("", corev1.ProtocolTCP, 8080)},
		},
		{
			svc: svc("nodeport", "10.96.0.12", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{
				{Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080},
			}}),
			slicePorts: []discoveryv1.EndpointPort{slicePort("", corev1.ProtocolTCP, 8080)},
			endpoints:  []ep{up("web-1"), up("web-3")},
		},
		{
			svc: svc("local-np", "10.96.0.13", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort,
				ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal, Ports: []corev1.ServicePort{
					{Protocol: corev1.ProtocolTCP, Port: 5432, TargetPort: intstr.FromInt32(5432), NodePort: 30081},
				}}),
			slicePorts: []discoveryv1.EndpointPort{slicePort("", corev1.ProtocolTCP, 5432)},
			endpoints:  []ep{up("db-1")},
		},
		{
			svc: svc("local-lb", "10.96.0.14", corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
				ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal, Ports: []corev1.ServicePort{
					{Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30082},
				}}),
			slicePorts: []discoveryv1.EndpointPort{slicePort("", corev1.ProtocolTCP, 8080)},
			endpoints:  []ep{up("web-1"), up("web-3")},
			lbIngress:  "203.0.113.10",
		},
		{
			svc: svc("sticky", "10.96.0.15", corev1.ServiceSpec{SessionAffinity: corev1.ServiceAffinityClientIP,
				Ports: []corev1.ServicePort{tcp("", 80, intstr.FromInt32(8080))}}),
			slicePorts: []discoveryv1.EndpointPort{slicePort("", corev1.ProtocolTCP, 8080)},
			endpoints:  []ep{up("web-2"), up("web-3")},
		},
		{
			svc: svc("dns", "10.96.0.53", corev1.ServiceSpec{Ports: []corev1.ServicePort{
				{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(5353)},
				tcp("dns-tcp", 53, intstr.FromInt32(5353)),
			}}),
			slicePorts: []discoveryv1.EndpointPort{slicePort("dns", corev1.ProtocolUDP, 5353), slicePort("dns-tcp", corev1.ProtocolTCP, 5353)},
			endpoints:  []ep{up("dns-1"), up("dns-2")},
		},
		{
			svc:        svc("api", "10.96.0.16", corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("", 8000, intstr.FromString("http-api"))}}),
			slicePorts: []discoveryv1.EndpointPort{slicePort("", corev1.ProtocolTCP, 8081)},
			endpoints:  []ep{up("api-1")},
		},
		{
			svc: svc("internal-local", "10.96.0.17", corev1.ServiceSpec{InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyLocal),
				Ports: []corev1.ServicePort{tcp("", 5432, intstr.FromInt32(5432))}}),
			slicePorts: []discoveryv1.EndpointPort{slicePort("", corev1.ProtocolTCP, 5432)},
			endpoints:  []ep{up("db-1")},
		},
		{
			svc: svc("ext", "10.96.0.18", corev1.ServiceSpec{ExternalIPs: []string{"192.0.2.10"},
				Ports: []corev1.ServicePort{tcp("", 80, intstr.FromInt32(8080))}}),
			slicePorts: []discoveryv1.EndpointPort{slicePort("", corev1.ProtocolTCP, 8080)},
			endpoints:  []ep{up("web-2")},
		},
	}
}

func createFixtureObjects(t *testing.T, ctx context.Context, c client.Client) []client.Object {
	t.Helper()
	var objs []client.Object
	create := func(o client.Object) {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
		objs = append(objs, o)
	}
	create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})
	for _, n := range []struct{ name, ip, cidr string }{{"node-a", "172.18.0.2", "10.244.1.0/24"}, {"node-b", "172.18.0.3", "10.244.2.0/24"}} {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: map[string]string{"kubernetes.io/hostname": n.name}},
			Spec: corev1.NodeSpec{PodCIDR: n.cidr, PodCIDRs: []string{n.cidr}}}
		create(node)
		node.Status = corev1.NodeStatus{
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.ip}, {Type: corev1.NodeHostName, Address: n.name}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(), Reason: "KubeletReady"}},
		}
		if err := c.Status().Update(ctx, node); err != nil {
			t.Fatalf("node %s status: %v", n.name, err)
		}
	}
	pods := map[string]fixturePod{}
	for _, p := range fixturePods {
		pods[p.name] = p
		app, _, _ := strings.Cut(p.name, "-")
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: p.name, Labels: map[string]string{"app": app}},
			Spec:       corev1.PodSpec{NodeName: p.node, Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10", Ports: p.ports}}},
		}
		create(pod)
		pod.Status = corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: p.ip, PodIPs: []corev1.PodIP{{IP: p.ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		}
		if p.name == "web-4" {
			pod.Status.Conditions[0].Status = corev1.ConditionFalse
		}
		if err := c.Status().Update(ctx, pod); err != nil {
			t.Fatalf("pod %s status: %v", p.name, err)
		}
	}
	for _, fs := range fixtureServices() {
		svc := fs.svc.DeepCopy()
		create(svc)
		if fs.lbIngress != "" {
			svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: fs.lbIngress, IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}}
			if err := c.Status().Update(ctx, svc); err != nil {
				t.Fatalf("service %s status: %v", svc.Name, err)
			}
		}
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: svc.Name + "-x1",
				Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name, discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       fs.slicePorts,
			Endpoints:   []discoveryv1.Endpoint{},
		}
		for _, e := range fs.endpoints {
			p := pods[e.pod]
			slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
				Addresses:  []string{p.ip},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(e.ready), Serving: ptr.To(e.serving), Terminating: ptr.To(e.terminating)},
				NodeName:   ptr.To(p.node),
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: p.name},
			})
		}
		create(slice)
	}
	return objs
}
