package policy

import (
	"fmt"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// podBuilder builds test pods: makePod("x", "a").labels("pod", "a").ip("10.0.0.1").obj().
type podBuilder struct{ pod corev1.Pod }

func makePod(namespace, name string) *podBuilder {
	return &podBuilder{pod: corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}}
}

func (b *podBuilder) labels(kv ...string) *podBuilder {
	for i := 0; i+1 < len(kv); i += 2 {
		b.pod.Labels[kv[i]] = kv[i+1]
	}
	return b
}

func (b *podBuilder) ip(ip string) *podBuilder {
	b.pod.Status.PodIP = ip
	b.pod.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	return b
}

func (b *podBuilder) node(name string) *podBuilder { b.pod.Spec.NodeName = name; return b }

func (b *podBuilder) hostNetwork() *podBuilder { b.pod.Spec.HostNetwork = true; return b }

func (b *podBuilder) port(name string, port int32, proto corev1.Protocol) *podBuilder {
	c := &b.pod.Spec.Containers[0]
	c.Ports = append(c.Ports, corev1.ContainerPort{Name: name, ContainerPort: port, Protocol: proto})
	return b
}

func (b *podBuilder) obj() corev1.Pod { return *b.pod.DeepCopy() }

func makeNamespace(name string, kv ...string) corev1.Namespace {
	ns := corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelMetadataName: name}}}
	for i := 0; i+1 < len(kv); i += 2 {
		ns.Labels[kv[i]] = kv[i+1]
	}
	return ns
}

func makeNode(name, ip string) corev1.Node {
	return corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}},
	}
}

// policyYAML parses one NetworkPolicy written as YAML, for tests that read better with the
// object as a user writes it.
func policyYAML(t testing.TB, doc string) networkingv1.NetworkPolicy {
	t.Helper()
	var np networkingv1.NetworkPolicy
	if err := yaml.UnmarshalStrict([]byte(doc), &np); err != nil {
		t.Fatalf("parse policy: %v\n%s", err, doc)
	}
	return np
}

func readYAML(t testing.TB, path string, into any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if err := yaml.UnmarshalStrict(raw, into); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
}

// matrix prints a reachability table as the testdata writes it: rows are clients, columns
// servers, "." connected, "X" not, "-" a pod to itself.
func matrix(pods []string, connected func(from, to string) bool) string {
	w := len("-")
	for _, p := range pods {
		w = max(w, len(p))
	}
	var b strings.Builder
	row := func(cells []string) {
		for i, c := range cells {
			cells[i] = fmt.Sprintf("%-*s", w, c)
		}
		b.WriteString(strings.TrimRight(strings.Join(cells, " "), " "))
		b.WriteByte('\n')
	}
	row(append([]string{"-"}, pods...))
	for _, from := range pods {
		cells := []string{from}
		for _, to := range pods {
			switch {
			case from == to:
				cells = append(cells, "-")
			case connected(from, to):
				cells = append(cells, ".")
			default:
				cells = append(cells, "X")
			}
		}
		row(cells)
	}
	return b.String()
}

// checkNamespaces fails on a policy outside the test namespaces: YAML 1.1 reads a bare
// "namespace: y" as a boolean, which would silently move the policy to namespace "true".
func checkNamespaces(t testing.TB, name string, policies []networkingv1.NetworkPolicy) {
	t.Helper()
	for _, np := range policies {
		if np.Namespace != "x" && np.Namespace != "y" && np.Namespace != "z" {
			t.Fatalf("case %q: policy %s is in namespace %q, want x, y or z", name, np.Name, np.Namespace)
		}
	}
}
