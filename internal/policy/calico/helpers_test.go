package calico

import (
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
)

// world is the cluster the evaluation tests run in: namespaces shop (team=a) and ops
// (team=b), and pods with addresses, labels, service accounts and named ports.
func world(t *testing.T, calicoYAML string, knps ...networkingv1.NetworkPolicy) *Model {
	t.Helper()
	s := &cluster.Snapshot{
		Namespaces: []corev1.Namespace{ns("shop", "team", "a"), ns("ops", "team", "b")},
		Pods: []corev1.Pod{
			pod("shop", "web", "10.0.1.10", "sa-web", map[string]string{"app": "web"}),
			pod("shop", "db", "10.0.1.20", "sa-db", map[string]string{"app": "db"}, corev1.ContainerPort{Name: "pg", ContainerPort: 5432}),
			pod("ops", "mon", "10.0.2.10", "default", map[string]string{"app": "mon"}),
			pod("ops", "db", "10.0.2.20", "default", map[string]string{"app": "db"}),
		},
		NetworkPolicies: knps,
	}
	for _, doc := range strings.Split(calicoYAML, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		data, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("calico object: %v", err)
		}
		if ok, err := s.Calico.Add(data); err != nil || !ok {
			t.Fatalf("calico object not taken (%v): %s", err, doc)
		}
	}
	return New(s)
}

func ns(name string, labels ...string) corev1.Namespace {
	l := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		l[labels[i]] = labels[i+1]
	}
	return corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
}

func pod(namespace, name, ip, sa string, labels map[string]string, ports ...corev1.ContainerPort) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		Spec: corev1.PodSpec{NodeName: "node-a", ServiceAccountName: sa,
			Containers: []corev1.Container{{Name: "c", Ports: ports}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}},
	}
}

func tcp(src, dst string, port uint16) Packet {
	return PacketOf(model.Packet{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Protocol: model.TCP, SrcPort: 40000, DstPort: port})
}

func proto(p model.Protocol, src, dst string, port uint16) Packet {
	return PacketOf(model.Packet{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Protocol: p, SrcPort: 40000, DstPort: port})
}

// at is the workload endpoint of a pod of the world.
func at(t *testing.T, m *Model, namespace, name string) *Endpoint {
	t.Helper()
	p := m.snap.Pod(namespace, name)
	if p == nil {
		t.Fatalf("no pod %s/%s", namespace, name)
	}
	return WorkloadEndpoint(p, m.snap.Namespace(namespace))
}

func traceOf(v Verdict) string {
	var out []string
	for _, h := range v.Trace {
		out = append(out, h.FlowLog())
	}
	return strings.Join(out, " ; ")
}
