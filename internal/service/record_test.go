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
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/netdiag/netdiag/internal/kubeproxytest"
)

// TestRecord records testdata/cluster.yaml and testdata/iptables.
func TestRecord(t *testing.T) {
	if !kubeproxytest.InNodeNamespace(t, "ndt-svc-rec", 8*time.Minute) {
		return
	}
	out, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	cp := kubeproxytest.StartControlPlane(t)
	ctx := t.Context()
	objs := kubeproxytest.Create(t, ctx, cp.Client, fixturePods, fixtureServices())

	// nftables mode is left out: on this machine kube-proxy's nftables mode reports each sync
	// complete, yet no "table ip kube-proxy" is ever listed in the namespace, so there is
	// nothing true to record. Add "nftables" here once it is.
	for _, mode := range []string{"iptables"} {
		t.Run(mode, func(t *testing.T) {
			stop := cp.StartKubeProxy(t, ctx, mode)
			defer stop()
			dir := filepath.Join(out, mode)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			switch mode {
			case "iptables":
				rules := kubeproxytest.WaitForRules(t, func() string { return kubeproxytest.Run(t, "iptables-save", "-c") }, expectedIPTablesComments)
				kubeproxytest.WriteFile(t, filepath.Join(dir, "node-a.iptables"), rules)
			case "nftables":
				text := kubeproxytest.WaitForRules(t, func() string { return kubeproxytest.Run(t, "nft", "list", "ruleset") }, expectedNFTComments)
				kubeproxytest.WriteFile(t, filepath.Join(dir, "node-a.nft"), text)
				kubeproxytest.WriteFile(t, filepath.Join(dir, "node-a.nft.json"), kubeproxytest.Run(t, "nft", "-j", "list", "ruleset"))
			}
		})
	}

	// The API server's own Service is in the rules too, so it belongs in the objects.
	kubeSvc := &corev1.Service{}
	if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "kubernetes"}, kubeSvc); err != nil {
		t.Fatal(err)
	}
	kubeSlice := &discoveryv1.EndpointSlice{}
	if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "kubernetes"}, kubeSlice); err != nil {
		t.Fatal(err)
	}
	objs = append(objs, kubeSvc, kubeSlice)
	kubeproxytest.WriteFile(t, filepath.Join(out, "cluster.yaml"), string(kubeproxytest.ListYAML(t, objs)))
}

// Every service port the rules must name before they count as synced.
var expectedIPTablesComments = []string{
	`"shop/web:http cluster IP"`, `"shop/web:https cluster IP"`, `"shop/empty has no endpoints"`,
	`"shop/nodeport cluster IP"`, `"shop/local-np has no local endpoints"`, `"shop/local-lb loadbalancer IP"`,
	`"shop/sticky cluster IP"`, `"shop/dns:dns cluster IP"`, `"shop/dns:dns-tcp cluster IP"`,
	`"shop/api cluster IP"`, `"shop/internal-local has no local endpoints"`, `"shop/ext external IP"`,
}

var expectedNFTComments = []string{"shop/web:http", "shop/empty", "shop/local-lb", "shop/ext", "shop/internal-local", "shop/api"}

var (
	webPorts = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "https", ContainerPort: 8443}}
	dnsPorts = []corev1.ContainerPort{{Name: "dns", ContainerPort: 5353, Protocol: corev1.ProtocolUDP}, {Name: "dns-tcp", ContainerPort: 5353}}
)

var fixturePods = []kubeproxytest.Pod{
	{Name: "web-1", Node: "node-a", IP: "10.244.1.11", Ports: webPorts},
	{Name: "web-2", Node: "node-a", IP: "10.244.1.12", Ports: webPorts},
	{Name: "web-3", Node: "node-b", IP: "10.244.2.13", Ports: webPorts},
	{Name: "web-4", Node: "node-b", IP: "10.244.2.14", Ports: webPorts, NotReady: true},
	{Name: "db-1", Node: "node-b", IP: "10.244.2.21", Ports: []corev1.ContainerPort{{Name: "pg", ContainerPort: 5432}}},
	{Name: "dns-1", Node: "node-a", IP: "10.244.1.31", Ports: dnsPorts},
	{Name: "dns-2", Node: "node-b", IP: "10.244.2.32", Ports: dnsPorts},
	{Name: "api-1", Node: "node-a", IP: "10.244.1.41", Ports: []corev1.ContainerPort{{Name: "http-api", ContainerPort: 8081}}},
}

func fixtureServices() []kubeproxytest.Service {
	tcp, slicePort, up, svc := kubeproxytest.TCP, kubeproxytest.SlicePort, kubeproxytest.Up, kubeproxytest.NewService
	return []kubeproxytest.Service{
		{
			Service: svc("web", "10.96.0.10", corev1.ServiceSpec{Ports: []corev1.ServicePort{
				tcp("http", 80, intstr.FromInt32(8080)), tcp("https", 443, intstr.FromInt32(8443)),
			}}),
			SlicePorts: []discoveryv1.EndpointPort{slicePort("http", corev1.ProtocolTCP, 8080), slicePort("https", corev1.ProtocolTCP, 8443)},
			Endpoints:  []kubeproxytest.Endpoint{up("web-1"), up("web-2"), up("web-3"), {Pod: "web-4", Serving: true, Terminating: true}},
		},
		{
			Service:    svc("empty", "10.96.0.11", corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("", 80, intstr.FromInt32(8080))}}),
			SlicePorts: []discoveryv1.EndpointPort{slicePort("", corev1.ProtocolTCP, 8080)},
		},
		{
			Service: svc("nodeport", "10.96.0.12", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{
				{Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080},
			}}),
			SlicePorts: []discoveryv1.EndpointPort{slicePort("", corev1.ProtocolTCP, 8080)},
			Endpoints:  []kubeproxytest.Endpoint{up("web-1"), up("web-3")},
		},
		{
			Service: svc("local-np", "10.96.0.13", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort,
				ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal, Ports: []corev1.ServicePort{
					{Protocol: corev1.ProtocolTCP, Port: 5432, TargetPort: intstr.FromInt32(5432), NodePort: 30081},
				}}),
			SlicePorts: []discoveryv1.EndpointPort{slicePort("", corev1.ProtocolTCP, 5432)},
			Endpoints:  []kubeproxytest.Endpoint{up("db-1")},
		},
		{
			Service: svc("local-lb", "10.96.0.14", corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
				ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal, Ports: []corev1.ServicePort{
					{Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30082},
				}}),
			SlicePorts: []discoveryv1.EndpointPort{slicePort("", corev1.ProtocolTCP, 8080)},
			Endpoints:  []kubeproxytest.Endpoint{up("web-1"), up("web-3")},
			LBIngress:  "203.0.113.10",
		},
		{
			Service: svc("sticky", "10.96.0.15", corev1.ServiceSpec{SessionAffinity: corev1.ServiceAffinityClientIP,
				Ports: []corev1.ServicePort{tcp("", 80, intstr.FromInt32(8080))}}),
			SlicePorts: []discoveryv1.EndpointPort{slicePort("", corev1.ProtocolTCP, 8080)},
			Endpoints:  []kubeproxytest.Endpoint{up("web-2"), up("web-3")},
		},
		{
			Service: svc("dns", "10.96.0.53", corev1.ServiceSpec{Ports: []corev1.ServicePort{
				{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(5353)},
				tcp("dns-tcp", 53, intstr.FromInt32(5353)),
			}}),
			SlicePorts: []discoveryv1.EndpointPort{slicePort("dns", corev1.ProtocolUDP, 5353), slicePort("dns-tcp", corev1.ProtocolTCP, 5353)},
			Endpoints:  []kubeproxytest.Endpoint{up("dns-1"), up("dns-2")},
		},
		{
			Service:    svc("api", "10.96.0.16", corev1.ServiceSpec{Ports: []corev1.ServicePort{tcp("", 8000, intstr.FromString("http-api"))}}),
			SlicePorts: []discoveryv1.EndpointPort{slicePort("", corev1.ProtocolTCP, 8081)},
			Endpoints:  []kubeproxytest.Endpoint{up("api-1")},
		},
		{
			Service: svc("internal-local", "10.96.0.17", corev1.ServiceSpec{InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyLocal),
				Ports: []corev1.ServicePort{tcp("", 5432, intstr.FromInt32(5432))}}),
			SlicePorts: []discoveryv1.EndpointPort{slicePort("", corev1.ProtocolTCP, 5432)},
			Endpoints:  []kubeproxytest.Endpoint{up("db-1")},
		},
		{
			Service: svc("ext", "10.96.0.18", corev1.ServiceSpec{ExternalIPs: []string{"192.0.2.10"},
				Ports: []corev1.ServicePort{tcp("", 80, intstr.FromInt32(8080))}}),
			SlicePorts: []discoveryv1.EndpointPort{slicePort("", corev1.ProtocolTCP, 8080)},
			Endpoints:  []kubeproxytest.Endpoint{up("web-2")},
		},
	}
}
