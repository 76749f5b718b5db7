package diagnose

import (
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
)

// TestChoosePlugin covers how a diagnosis settles the plugin it simulates: detected, named,
// recognised but not simulated, or with options the plugin refuses.
func TestChoosePlugin(t *testing.T) {
	cilium := appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "cilium"}}
	cilium.Spec.Template.Spec.Containers = []corev1.Container{{Name: "cilium-agent", Image: "quay.io/cilium/cilium:v1.18.0"}}
	antrea := appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "antrea-agent"}}
	antrea.Spec.Template.Spec.Containers = []corev1.Container{{Name: "antrea-agent", Image: "antrea/antrea-agent-ubuntu:v2.4.0"}}
	cases := map[string]struct {
		daemonSets []appsv1.DaemonSet
		plugin     string
		options    map[string]string
		want       string
		// note is what the Info suspicion says, empty for none.
		note []string
		err  string
	}{
		"flannel detected": {want: "flannel"},
		"antrea detected, not simulated": {daemonSets: []appsv1.DaemonSet{antrea}, want: "generic",
			note: []string{"runs antrea (DaemonSet kube-system/antrea-agent)", "recognises but does not simulate", "simulated: calico, canal, cilium, flannel, generic"}},
		// Cilium's eBPF is simulated as far as the kernel's own state goes, and Unknown past it.
		"cilium detected":     {daemonSets: []appsv1.DaemonSet{cilium}, want: "cilium"},
		"nothing detected":    {daemonSets: []appsv1.DaemonSet{}, want: "generic", note: []string{"could not be recognised"}},
		"calico named":        {plugin: "calico", want: "calico"},
		"antrea named":        {plugin: "antrea", err: `"antrea" is recognised but not simulated`},
		"options of detected": {options: map[string]string{"backend": "host-gw"}, want: "flannel"},
		"options it lacks":    {options: map[string]string{"mode": "vxlan"}, err: `network plugin flannel: no option "mode"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := twoNodes(flanneltest.VXLAN)
			if tc.daemonSets != nil {
				c.Snapshot.DaemonSets = tc.daemonSets
			}
			if name == "nothing detected" {
				// No agent and nothing left on the nodes either.
				for i := range c.Snapshot.Nodes {
					c.Snapshot.Nodes[i].Annotations = nil
				}
			}
			q := model.Question{Source: endpoint(t, c.Snapshot, "pod:default/client"), Destination: endpoint(t, c.Snapshot, "pod:default/db"), Protocol: model.TCP, Port: 5432}
			res, err := Diagnose(Input{Cluster: c.Snapshot, Nodes: c.Nodes, Question: q, NetworkPlugin: tc.plugin, NetworkPluginConfig: tc.options})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Diagnose: %v, want an error containing %q", err, tc.err)
				}
				var unknown *plugin.UnknownPluginError
				var bad *plugin.ConfigError
				if !errors.As(err, &unknown) && !errors.As(err, &bad) {
					t.Errorf("error %T says neither an unknown plugin nor a bad option", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.NetworkPlugin != tc.want {
				t.Errorf("simulated %s, want %s", res.NetworkPlugin, tc.want)
			}
			var notes []string
			for _, s := range res.Suspicions {
				if s.Reason == model.ReasonPluginUnknown {
					notes = append(notes, s.Message)
				}
			}
			if len(tc.note) == 0 {
				if len(notes) > 0 {
					t.Errorf("unexpected %s: %v", model.ReasonPluginUnknown, notes)
				}
				return
			}
			if len(notes) != 1 {
				t.Fatalf("%s suspicions %v, want one", model.ReasonPluginUnknown, notes)
			}
			for _, w := range tc.note {
				if !strings.Contains(notes[0], w) {
					t.Errorf("%q lacks %q", notes[0], w)
				}
			}
		})
	}
}
