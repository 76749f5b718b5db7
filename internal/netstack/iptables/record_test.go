//go:build record

package iptables

// The kube-proxy fixtures in testdata/ are recorded from the real kube-proxy, never written
// by hand:
//
//	go test -tags record -run TestRecordKubeProxy -v ./internal/netstack/iptables/
//
// (as root, with bin/k8s/current built by hack/build-controlplane.sh). The test makes a
// network namespace (ndt-ipt-rec-<pid>) that plays node-a (eth0, one end of a veth pair, with 172.18.0.2/24),
// starts etcd and kube-apiserver inside it on its loopback, creates Nodes, Pods, Services and
// EndpointSlices through the API, runs kube-proxy in iptables and then in nftables mode, waits
// until the rules name every service, and saves `iptables-save -c` and `nft -j list ruleset`.
// Nothing is sent on any network; the namespace is deleted at the end, also on failure.

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
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

const recordInner = "NDT_IPT_RECORD_INNER"

func TestRecordKubeProxy(t *testing.T) {
	if os.Getenv(recordInner) != "" {
		recordInNamespace(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("recording needs root to make a network namespace")
	}
	ns := fmt.Sprintf("ndt-ipt-rec-%d", os.Getpid())
	mustRun(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		// This kernel has no dummy links: a veth pair whose peer stays in the namespace.
		{"link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"},
		{"addr", "add", "172.18.0.2/24", "dev", "eth0"},
		{"link", "set", "eth0-peer", "up"},
		{"link", "set", "eth0", "up"},
		{"route", "add", "default", "via", "172.18.0.1", "dev", "eth0"},
	} {
		mustRun(t, "ip", append([]string{"-n", ns}, args...)...)
	}
	out, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, os.Args[0], "-test.run", "^TestRecordKubeProxy$", "-test.v")
	cmd.Env = append(os.Environ(), recordInner+"=1", "NDT_IPT_RECORD_OUT="+out)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("record inside namespace %s: %v", ns, err)
	}
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func recordInNamespace(t *testing.T) {
	out := os.Getenv("NDT_IPT_RECORD_OUT")
	root, err := filepath.Abs("../../..")
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
	createObjects(t, ctx, c)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"iptables", "nftables"} {
		t.Run(mode, func(t *testing.T) {
			stop := startKubeProxy(t, ctx, root, kubeconfig, mode)
			defer stop()
			switch mode {
			case "iptables":
				text := waitForRules(t, func() string { return mustRun(t, "iptables-save", "-c") },
					[]string{`"shop/web:http cluster IP"`, `"shop/empty has no endpoints"`, `"shop/np cluster IP"`,
						`"shop/sticky cluster IP"`, `"shop/dns:dns cluster IP"`, `"shop/ext external IP"`, `"shop/lb loadbalancer IP"`})
				writeFixture(t, filepath.Join(out, "kube-proxy.iptables"), text)
			case "nftables":
				want := []string{"shop/web/tcp/http", "shop/empty", "shop/np/tcp/", "shop/sticky/tcp/", "shop/dns/udp/dns", "shop/ext/tcp/", "shop/lb/tcp/"}
				text := waitForRules(t, func() string { return mustRun(t, "nft", "list", "ruleset") }, want)
				writeFixture(t, filepath.Join(out, "kube-proxy.nft"), text)
				writeFixture(t, filepath.Join(out, "kube-proxy.nft.json"), mustRun(t, "nft", "-j", "list", "ruleset"))
			}
		})
	}
}

func writeFixture(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func waitForRules(t *testing.T, read func() string, want []string) string {
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
			// Let one more sync settle the rules.
			time.Sleep(2 * time.Second)
			return read()
		}
		if time.Now().After(deadline) {
			t.Fatalf("rules never named %s; last read:\n%s", missing, text)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func startKubeProxy(t *testing.T, ctx context.Context, root, kubeconfig, mode string) func() {
	t.Helper()
	var log bytes.Buffer
	bin := filepath.Join(root, "bin", "k8s", "current", "kube-proxy")
	cmd := exec.CommandContext(ctx, bin,
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
		_ = exec.Command(bin, "--cleanup").Run()
	}
}

type recPod struct{ name, node, ip string }

var recPods = []recPod{
	{"web-1", "node-a", "10.244.1.11"}, {"web-2", "node-a", "10.244.1.12"}, {"web-3", "node-b", "10.244.2.13"},
	{"db-1", "node-b", "10.244.2.21"}, {"dns-1", "node-a", "10.244.1.31"}, {"dns-2", "node-b", "10.244.2.32"},
}

type recService struct {
	spec      corev1.ServiceSpec
	name      string
	ports     []discoveryv1.EndpointPort
	endpoints []string
	lbIP      string
}

func tcpPort(name string, port, target int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: corev1.ProtocolTCP, Port: port, TargetPort: intstr.FromInt32(target)}
}

func epPort(name string, proto corev1.Protocol, port int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr.To(name), Protocol: ptr.To(proto), Port: ptr.To(port)}
}

func recServices() []recService {
	return []recService{
		{name: "web", spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10", Ports: []corev1.ServicePort{tcpPort("http", 80, 8080), tcpPort("https", 443, 8443)}},
			ports:     []discoveryv1.EndpointPort{epPort("http", corev1.ProtocolTCP, 8080), epPort("https", corev1.ProtocolTCP, 8443)},
			endpoints: []string{"web-1", "web-2", "web-3"}},
		{name: "empty", spec: corev1.ServiceSpec{ClusterIP: "10.96.0.11", Ports: []corev1.ServicePort{tcpPort("", 80, 8080)}},
			ports: []discoveryv1.EndpointPort{epPort("", corev1.ProtocolTCP, 8080)}},
		{name: "np", spec: corev1.ServiceSpec{ClusterIP: "10.96.0.12", Type: corev1.ServiceTypeNodePort,
			Ports: []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080}}},
			ports: []discoveryv1.EndpointPort{epPort("", corev1.ProtocolTCP, 8080)}, endpoints: []string{"web-1", "web-3"}},
		{name: "sticky", spec: corev1.ServiceSpec{ClusterIP: "10.96.0.15", SessionAffinity: corev1.ServiceAffinityClientIP,
			Ports: []corev1.ServicePort{tcpPort("", 80, 8080)}},
			ports: []discoveryv1.EndpointPort{epPort("", corev1.ProtocolTCP, 8080)}, endpoints: []string{"web-2", "web-3"}},
		{name: "dns", spec: corev1.ServiceSpec{ClusterIP: "10.96.0.53", Ports: []corev1.ServicePort{
			{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(5353)}, tcpPort("dns-tcp", 53, 5353)}},
			ports:     []discoveryv1.EndpointPort{epPort("dns", corev1.ProtocolUDP, 5353), epPort("dns-tcp", corev1.ProtocolTCP, 5353)},
			endpoints: []string{"dns-1", "dns-2"}},
		{name: "ext", spec: corev1.ServiceSpec{ClusterIP: "10.96.0.18", ExternalIPs: []string{"192.0.2.10"}, Ports: []corev1.ServicePort{tcpPort("", 80, 8080)}},
			ports: []discoveryv1.EndpointPort{epPort("", corev1.ProtocolTCP, 8080)}, endpoints: []string{"web-2"}},
		{name: "lb", spec: corev1.ServiceSpec{ClusterIP: "10.96.0.14", Type: corev1.ServiceTypeLoadBalancer,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Ports:                 []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30082}}},
			ports: []discoveryv1.EndpointPort{epPort("", corev1.ProtocolTCP, 8080)}, endpoints: []string{"web-1", "web-3"}, lbIP: "203.0.113.10"},
	}
}

func createObjects(t *testing.T, ctx context.Context, c client.Client) {
	t.Helper()
	create := func(o client.Object) {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
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
	pods := map[string]recPod{}
	for _, p := range recPods {
		pods[p.name] = p
	}
	for _, s := range recServices() {
		s.spec.ClusterIPs = []string{s.spec.ClusterIP}
		if s.spec.Type == "" {
			s.spec.Type = corev1.ServiceTypeClusterIP
		}
		s.spec.Selector = map[string]string{"app": s.name}
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: s.name}, Spec: s.spec}
		create(svc)
		if s.lbIP != "" {
			svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: s.lbIP, IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}}
			if err := c.Status().Update(ctx, svc); err != nil {
				t.Fatalf("service %s status: %v", s.name, err)
			}
		}
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: s.name + "-x1",
				Labels: map[string]string{discoveryv1.LabelServiceName: s.name, discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       s.ports,
			Endpoints:   []discoveryv1.Endpoint{},
		}
		for _, name := range s.endpoints {
			p := pods[name]
			slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
				Addresses:  []string{p.ip},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
				NodeName:   ptr.To(p.node),
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: p.name},
			})
		}
		create(slice)
	}
}
