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
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdiag/netdiag/internal/kubeproxytest"
)

func TestRecordKubeProxy(t *testing.T) {
	if !kubeproxytest.InNodeNamespace(t, "ndt-ipt-rec", 6*time.Minute) {
		return
	}
	out, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	cp := kubeproxytest.StartControlPlane(t)
	ctx := t.Context()
	kubeproxytest.Create(t, ctx, cp.Client, recPods, recServices())
	for _, mode := range []string{"iptables", "nftables"} {
		t.Run(mode, func(t *testing.T) {
			stop := cp.StartKubeProxy(t, ctx, mode)
			defer stop()
			run := func(name string, args ...string) string { return kubeproxytest.Run(t, name, args...) }
			switch mode {
			case "iptables":
				text := kubeproxytest.WaitForRules(t, func() string { return run("iptables-save", "-c") },
					[]string{`"shop/web:http cluster IP"`, `"shop/empty has no endpoints"`, `"shop/np cluster IP"`,
						`"shop/sticky cluster IP"`, `"shop/dns:dns cluster IP"`, `"shop/ext external IP"`, `"shop/lb loadbalancer IP"`})
				kubeproxytest.WriteFile(t, filepath.Join(out, "kube-proxy.iptables"), text)
			case "nftables":
				want := []string{"shop/web/tcp/http", "shop/empty", "shop/np/tcp/", "shop/sticky/tcp/", "shop/dns/udp/dns", "shop/ext/tcp/", "shop/lb/tcp/"}
				text := kubeproxytest.WaitForRules(t, func() string { return run("nft", "list", "ruleset") }, want)
				kubeproxytest.WriteFile(t, filepath.Join(out, "kube-proxy.nft"), text)
				kubeproxytest.WriteFile(t, filepath.Join(out, "kube-proxy.nft.json"), run("nft", "-j", "list", "ruleset"))
			}
		})
	}
}

var recPods = []kubeproxytest.Pod{
	{Name: "web-1", Node: "node-a", IP: "10.244.1.11"}, {Name: "web-2", Node: "node-a", IP: "10.244.1.12"},
	{Name: "web-3", Node: "node-b", IP: "10.244.2.13"}, {Name: "db-1", Node: "node-b", IP: "10.244.2.21"},
	{Name: "dns-1", Node: "node-a", IP: "10.244.1.31"}, {Name: "dns-2", Node: "node-b", IP: "10.244.2.32"},
}

func recServices() []kubeproxytest.Service {
	tcp, epPort, up, svc := kubeproxytest.TCP, kubeproxytest.SlicePort, kubeproxytest.Up, kubeproxytest.NewService
	port := intstr.FromInt32
	ups := func(pods ...string) []kubeproxytest.Endpoint {
		var eps []kubeproxytest.Endpoint
		for _, p := range pods {
			eps = append(eps, up(p))
		}
		return eps
	}
	// A function, not a shared slice: the client decodes the created slice into its Ports.
	tcp8080 := func() []discoveryv1.EndpointPort {
		return []discoveryv1.EndpointPort{epPort("", corev1.ProtocolTCP, 8080)}
	}
	return []kubeproxytest.Service{
		{Service: svc("web", "10.96.0.10", corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("http", 80, port(8080)), tcp("https", 443, port(8443))}}),
			SlicePorts: []discoveryv1.EndpointPort{epPort("http", corev1.ProtocolTCP, 8080), epPort("https", corev1.ProtocolTCP, 8443)},
			Endpoints:  ups("web-1", "web-2", "web-3")},
		{Service: svc("empty", "10.96.0.11", corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("", 80, port(8080))}}),
			SlicePorts: tcp8080()},
		{Service: svc("np", "10.96.0.12", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort,
			Ports: []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: port(8080), NodePort: 30080}}}),
			SlicePorts: tcp8080(), Endpoints: ups("web-1", "web-3")},
		{Service: svc("sticky", "10.96.0.15", corev1.ServiceSpec{SessionAffinity: corev1.ServiceAffinityClientIP,
			Ports: []corev1.ServicePort{tcp("", 80, port(8080))}}),
			SlicePorts: tcp8080(), Endpoints: ups("web-2", "web-3")},
		{Service: svc("dns", "10.96.0.53", corev1.ServiceSpec{Ports: []corev1.ServicePort{
			{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: port(5353)}, tcp("dns-tcp", 53, port(5353))}}),
			SlicePorts: []discoveryv1.EndpointPort{epPort("dns", corev1.ProtocolUDP, 5353), epPort("dns-tcp", corev1.ProtocolTCP, 5353)},
			Endpoints:  ups("dns-1", "dns-2")},
		{Service: svc("ext", "10.96.0.18", corev1.ServiceSpec{ExternalIPs: []string{"192.0.2.10"}, Ports: []corev1.ServicePort{tcp("", 80, port(8080))}}),
			SlicePorts: tcp8080(), Endpoints: ups("web-2")},
		{Service: svc("lb", "10.96.0.14", corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Ports:                 []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: port(8080), NodePort: 30082}}}),
			SlicePorts: tcp8080(), Endpoints: ups("web-1", "web-3"), LBIngress: "203.0.113.10"},
	}
}
