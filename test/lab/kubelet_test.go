package lab

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExpandVars(t *testing.T) {
	env := map[string]string{"NODE_NAME": "node-2", "EMPTY": ""}
	for name, tc := range map[string]struct{ in, want string }{
		"defined":              {"--node=$(NODE_NAME)", "--node=node-2"},
		"twice":                {"$(NODE_NAME)/$(NODE_NAME)", "node-2/node-2"},
		"undefined kept":       {"$(NOPE)", "$(NOPE)"},
		"empty value":          {"a$(EMPTY)b", "ab"},
		"shell syntax kept":    {"${NODE_NAME}", "${NODE_NAME}"},
		"no reference":         {"collect", "collect"},
		"unterminated is kept": {"$(NODE_NAME", "$(NODE_NAME"},
	} {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, expandVars(tc.in, env)); diff != "" {
				t.Errorf("expandVars(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestFieldValue(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "netdiag-system", UID: "u1",
			Labels: map[string]string{"app": "collector"}, Annotations: map[string]string{"a": "b"}},
		Spec: corev1.PodSpec{ServiceAccountName: "netdiag-collector"},
	}
	node := &Node{Name: "node-3", IP: nodeIP(3)}
	got := map[string]string{}
	for _, path := range []string{"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
		"spec.serviceAccountName", "status.hostIP", "metadata.labels['app']", "metadata.annotations['a']", "status.unknown"} {
		got[path] = fieldValue(pod, node, path)
	}
	want := map[string]string{
		"metadata.name": "c", "metadata.namespace": "netdiag-system", "metadata.uid": "u1",
		"spec.nodeName": "node-3", "spec.serviceAccountName": "netdiag-collector", "status.hostIP": "172.18.1.3",
		"metadata.labels['app']": "collector", "metadata.annotations['a']": "b", "status.unknown": "",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fieldValue (-want +got):\n%s", diff)
	}
}

// The API server sets a pod's QoS class when it is created and rejects a status that
// changes it: a collector pod, with requests and limits, is Burstable.
func TestPodStatusKeepsQOSClass(t *testing.T) {
	st := &podState{node: &Node{Name: "node-1", IP: nodeIP(1)}, ip: nodeIP(1)}
	for name, tc := range map[string]struct {
		class corev1.PodQOSClass
		want  corev1.PodQOSClass
	}{
		"set by the API server": {corev1.PodQOSBurstable, corev1.PodQOSBurstable},
		"not set yet":           {"", corev1.PodQOSBestEffort},
	} {
		t.Run(name, func(t *testing.T) {
			pod := &corev1.Pod{Status: corev1.PodStatus{QOSClass: tc.class}}
			if diff := cmp.Diff(tc.want, podStatus(pod, st).QOSClass); diff != "" {
				t.Errorf("QOSClass (-want +got):\n%s", diff)
			}
		})
	}
}

// Interface names have 15 characters at most; calico's are "cali" and 11 hex digits.
func TestCalicoVethName(t *testing.T) {
	a, b := calicoVethName("default", "web"), calicoVethName("default", "web2")
	if len(a) != 15 || a[:4] != "cali" || a == b {
		t.Errorf("calicoVethName = %q, %q: want distinct 15-character cali names", a, b)
	}
}

func FuzzExpandVars(f *testing.F) {
	for _, s := range []string{"$(A)", "$(A", "$$(A)", "x$(A)y$(B)", ""} {
		f.Add(s)
	}
	env := map[string]string{"A": "1", "B": "$(A)"}
	f.Fuzz(func(t *testing.T, s string) {
		out := expandVars(s, env)
		// Expansion is one pass: a value that looks like a reference is not expanded again.
		if expandVars(s, map[string]string{}) != s {
			t.Errorf("expandVars(%q) with no variables changed the string", s)
		}
		_ = out
	})
}
