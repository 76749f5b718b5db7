package plugins

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/plugin/calico"
)

func TestRegistry(t *testing.T) {
	r := Registry()
	var simulated []string
	for _, d := range r.Descriptors() {
		if d.New != nil {
			simulated = append(simulated, d.Name)
		}
	}
	slices.Sort(simulated)
	if got, want := strings.Join(r.Simulated(), ","), strings.Join(simulated, ","); got != want || !strings.Contains(got, "generic") {
		t.Errorf("simulated plugins = %s, want %s with generic among them", got, want)
	}
	for _, d := range r.Descriptors() {
		if d.Summary == "" {
			t.Errorf("plugin %s has no summary for --help and the docs", d.Name)
		}
		if d.Recognise == nil && d.Name != "generic" {
			t.Errorf("plugin %s cannot be detected", d.Name)
		}
	}
}

func ds(namespace, name string, images ...string) appsv1.DaemonSet {
	d := appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	for i, img := range images {
		d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "c" + string(rune('0'+i)), Image: img})
	}
	return d
}

func TestDetect(t *testing.T) {
	kubeProxy := ds("kube-system", "kube-proxy", "registry.k8s.io/kube-proxy:v1.37.2")
	annotated := func(key string) []corev1.Node {
		return []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "n1", Annotations: map[string]string{key: "x"}}}}
	}
	cases := map[string]struct {
		daemonSets []appsv1.DaemonSet
		nodes      []corev1.Node
		want       string
		evidence   string
		simulated  bool
	}{
		"flannel by name":        {daemonSets: []appsv1.DaemonSet{kubeProxy, ds("kube-flannel", "kube-flannel-ds", "ghcr.io/flannel-io/flannel:v0.27.0")}, want: "flannel", evidence: "DaemonSet kube-flannel/kube-flannel-ds", simulated: true},
		"flannel by image only":  {daemonSets: []appsv1.DaemonSet{ds("kube-system", "network", "docker.io/flannel/flannel:v0.26.1")}, want: "flannel", simulated: true},
		"flannel by annotation":  {nodes: annotated("flannel.alpha.coreos.com/backend-type"), want: "flannel", evidence: "Node n1 annotation flannel.alpha.coreos.com/backend-type", simulated: true},
		"calico over kube-proxy": {daemonSets: []appsv1.DaemonSet{kubeProxy, ds("kube-system", "calico-node", "docker.io/calico/node:v3.29.0")}, want: "calico", simulated: true},
		"calico by annotation":   {nodes: annotated("projectcalico.org/IPv4Address"), want: "calico", simulated: true},
		"canal is not flannel nor calico": {daemonSets: []appsv1.DaemonSet{ds("kube-system", "rke2-canal", "docker.io/calico/node:v3.29.0", "quay.io/coreos/flannel:v0.15.1")},
			nodes: annotated("flannel.alpha.coreos.com/backend-type"), want: "canal", evidence: "DaemonSet kube-system/rke2-canal", simulated: true},
		"cilium":        {daemonSets: []appsv1.DaemonSet{ds("kube-system", "cilium", "quay.io/cilium/cilium:v1.18.0")}, want: "cilium", simulated: true},
		"weave":         {daemonSets: []appsv1.DaemonSet{ds("kube-system", "weave-net", "weaveworks/weave-kube:2.8.1")}, want: "weave"},
		"antrea":        {daemonSets: []appsv1.DaemonSet{ds("kube-system", "antrea-agent", "antrea/antrea-agent-ubuntu:v2.4.0")}, want: "antrea"},
		"kube-router":   {daemonSets: []appsv1.DaemonSet{ds("kube-system", "kube-router", "docker.io/cloudnativelabs/kube-router")}, want: "kube-router"},
		"nothing known": {daemonSets: []appsv1.DaemonSet{kubeProxy}},
		"no daemonsets": {},
	}
	r := Registry()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			det, ok := r.Detect(&cluster.Snapshot{DaemonSets: tc.daemonSets, Nodes: tc.nodes})
			if got := det.Plugin.Name; got != tc.want || ok != (tc.want != "") {
				t.Fatalf("Detect = %q, %v; want %q", got, ok, tc.want)
			}
			if !ok {
				return
			}
			if det.Plugin.Simulated() != tc.simulated {
				t.Errorf("%s simulated = %v, want %v", tc.want, det.Plugin.Simulated(), tc.simulated)
			}
			if tc.evidence != "" && det.Evidence != tc.evidence {
				t.Errorf("evidence %q, want %q", det.Evidence, tc.evidence)
			}
		})
	}
}

// TestDetectIgnoresTenants checks that a tenant's DaemonSet, however it is named, changes
// neither the plugin detected nor a cluster with none, and that the operator's choice
// decides over what the cluster shows.
func TestDetectIgnoresTenants(t *testing.T) {
	flannel := ds("kube-flannel", "kube-flannel-ds", "ghcr.io/flannel-io/flannel:v0.27.0")
	canalLookalike := ds("tenant-a", "canal-lookalike", "docker.io/calico/node:v3.29.0", "quay.io/coreos/flannel:v0.15.1")
	canalLookalike.Labels = map[string]string{"k8s-app": "canal"}
	cases := map[string]struct {
		daemonSets []appsv1.DaemonSet
		system     []string
		pinned     string
		want       string
		evidence   string
	}{
		"flannel, with a tenant's canal look-alike": {daemonSets: []appsv1.DaemonSet{canalLookalike, flannel}, want: "flannel", evidence: "DaemonSet kube-flannel/kube-flannel-ds"},
		"only a tenant's look-alike":                {daemonSets: []appsv1.DaemonSet{canalLookalike}},
		"a tenant's cilium":                         {daemonSets: []appsv1.DaemonSet{ds("tenant-b", "cilium", "quay.io/cilium/cilium:v1.18.0")}},
		"cilium in its own namespace":               {daemonSets: []appsv1.DaemonSet{ds("cilium", "cilium", "quay.io/cilium/cilium:v1.18.0")}, want: "cilium"},
		"calico under the operator":                 {daemonSets: []appsv1.DaemonSet{ds("calico-system", "calico-node", "docker.io/calico/node:v3.29.0")}, want: "calico"},
		"a namespace the operator adds":             {daemonSets: []appsv1.DaemonSet{ds("platform-net", "calico-node", "docker.io/calico/node:v3.29.0")}, system: []string{"kube-system", "platform-net"}, want: "calico"},
		"flannel outside the namespaces given":      {daemonSets: []appsv1.DaemonSet{flannel}, system: []string{"kube-system"}},
		"the operator's plugin over the cluster's":  {daemonSets: []appsv1.DaemonSet{flannel}, pinned: "calico", want: "calico", evidence: plugin.ClusterPluginEvidence},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := Registry()
			if tc.system != nil {
				if err := r.SetSystemNamespaces(tc.system); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.SetClusterPlugin(tc.pinned); err != nil {
				t.Fatal(err)
			}
			det, ok := r.Detect(&cluster.Snapshot{DaemonSets: tc.daemonSets})
			if got := det.Plugin.Name; got != tc.want || ok != (tc.want != "") {
				t.Fatalf("Detect = %q (%s), %v; want %q", got, det.Evidence, ok, tc.want)
			}
			if tc.evidence != "" && det.Evidence != tc.evidence {
				t.Errorf("evidence %q, want %q", det.Evidence, tc.evidence)
			}
		})
	}
}

func TestSystemNamespaces(t *testing.T) {
	got := strings.Join(Registry().DefaultSystemNamespaces(), ",")
	if want := "calico-system,cilium,kube-flannel,kube-router,kube-system,tigera-operator"; got != want {
		t.Errorf("default system namespaces = %s, want %s", got, want)
	}
	r := Registry()
	if err := r.SetClusterPlugin("nosuch"); err == nil {
		t.Error("SetClusterPlugin accepted a plugin the registry does not know")
	}
	if err := r.SetSystemNamespaces([]string{"Kube-System"}); err == nil {
		t.Error("SetSystemNamespaces accepted a name no namespace can have")
	}
}

// TestFlagsBound checks that binding the registry gives a command every simulated plugin's
// options, as `netdiag manager --help` and `netdiag diagnose --help` list them.
func TestFlagsBound(t *testing.T) {
	r := Registry()
	fs := pflag.NewFlagSet("manager", pflag.ContinueOnError)
	r.BindFlags(fs)
	for _, want := range []string{"calico-mode", "calico-interface-prefix", "calico-vxlan-device", "flannel-backend", "flannel-bridge", "flannel-vxlan-device"} {
		if fs.Lookup(want) == nil {
			t.Errorf("--%s is not bound", want)
		}
	}
	if err := fs.Parse([]string{"--calico-mode", "ipip"}); err != nil {
		t.Fatal(err)
	}
	mode := func(overrides map[string]string) string {
		t.Helper()
		cfg, err := r.Config("calico", overrides)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.(*calico.Config).Mode
	}
	if got := mode(nil); got != "ipip" {
		t.Errorf("the command line's --calico-mode ipip gives mode %q", got)
	}
	if got := mode(map[string]string{"mode": "vxlan"}); got != "vxlan" {
		t.Errorf("a diagnosis's mode vxlan over the command line's ipip gives %q", got)
	}
	if got := mode(nil); got != "ipip" {
		t.Errorf("after an override, the cluster's default is %q, want ipip still", got)
	}
	fresh, err := Registry().Config("calico", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := fresh.(*calico.Config).Mode; got != calico.ModeAuto {
		t.Errorf("a new registry's calico mode is %q, want %q: one command line leaked into another registry", got, calico.ModeAuto)
	}
}

// TestDetectPrefersARunningAgent: a cluster moved from flannel to cilium keeps flannel's
// node annotations; the DaemonSet that runs now decides.
func TestDetectPrefersARunningAgent(t *testing.T) {
	s := &cluster.Snapshot{
		DaemonSets: []appsv1.DaemonSet{ds("kube-system", "cilium", "quay.io/cilium/cilium:v1.18.0")},
		Nodes:      []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "n1", Annotations: map[string]string{"flannel.alpha.coreos.com/backend-type": "vxlan"}}}},
	}
	det, ok := Registry().Detect(s)
	if !ok || det.Plugin.Name != "cilium" {
		t.Fatalf("Detect = %s (%s), want cilium", det.Plugin.Name, det.Evidence)
	}
}
