package cluster

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func agent(ns, name, image string, args []string, env ...corev1.EnvVar) appsv1.DaemonSet {
	return appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: name, Image: image, Args: args, Env: env}}}}}}
}

func configMap(ns, name string, data map[string]string) corev1.ConfigMap {
	return corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: data}
}

func felix(name string, bpf bool) FelixConfiguration {
	return FelixConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: FelixConfigurationSpec{BPFEnabled: &bpf}}
}

func TestDetectProxyReplacement(t *testing.T) {
	calicoNode := func(env ...corev1.EnvVar) []appsv1.DaemonSet {
		return []appsv1.DaemonSet{agent("calico-system", "calico-node", "docker.io/calico/node:v3.31.0", nil, env...)}
	}
	cases := map[string]struct {
		snap *Snapshot
		want string // the evidence; "" for none
	}{
		"cilium-config kube-proxy-replacement true": {
			snap: &Snapshot{ConfigMaps: []corev1.ConfigMap{configMap("kube-system", "cilium-config", map[string]string{"kube-proxy-replacement": "true"})}},
			want: "ConfigMap kube-system/cilium-config kube-proxy-replacement=true"},
		"cilium-config the older strict": {
			snap: &Snapshot{ConfigMaps: []corev1.ConfigMap{configMap("cilium", "cilium-config", map[string]string{"kube-proxy-replacement": "strict"})}},
			want: "ConfigMap cilium/cilium-config kube-proxy-replacement=strict"},
		"cilium-config partial leaves kube-proxy on": {
			snap: &Snapshot{ConfigMaps: []corev1.ConfigMap{configMap("kube-system", "cilium-config", map[string]string{"kube-proxy-replacement": "partial"})}}},
		"a tenant's cilium-config counts for nothing": {
			snap: &Snapshot{ConfigMaps: []corev1.ConfigMap{configMap("shop", "cilium-config", map[string]string{"kube-proxy-replacement": "true"})}}},
		"the cilium agent's flag": {
			snap: &Snapshot{DaemonSets: []appsv1.DaemonSet{agent("kube-system", "cilium", "quay.io/cilium/cilium:v1.18.0", []string{"--config-dir=/tmp/cilium", "--kube-proxy-replacement=true"})}},
			want: "DaemonSet kube-system/cilium --kube-proxy-replacement=true"},
		"calico-node with the eBPF data plane": {
			snap: &Snapshot{DaemonSets: []appsv1.DaemonSet{agent("calico-system", "calico-node", "docker.io/calico/node:v3.31.0", nil, corev1.EnvVar{Name: "FELIX_BPFENABLED", Value: "true"})}},
			want: "DaemonSet calico-system/calico-node FELIX_BPFENABLED=true"},
		"calico-node with iptables": {
			snap: &Snapshot{DaemonSets: []appsv1.DaemonSet{agent("kube-system", "calico-node", "docker.io/calico/node:v3.31.0", nil, corev1.EnvVar{Name: "FELIX_BPFENABLED", Value: "false"})}}},
		"the default FelixConfiguration's bpfEnabled": {
			snap: &Snapshot{DaemonSets: calicoNode(), FelixConfigurations: []FelixConfiguration{felix("default", true)}},
			want: "FelixConfiguration default bpfEnabled=true"},
		"the default FelixConfiguration with iptables": {
			snap: &Snapshot{DaemonSets: calicoNode(), FelixConfigurations: []FelixConfiguration{felix("default", false)}}},
		"a node's FelixConfiguration is not the cluster's": {
			snap: &Snapshot{DaemonSets: calicoNode(), FelixConfigurations: []FelixConfiguration{felix("node.worker-1", true)}}},
		"calico-node's FELIX_BPFENABLED=false outweighs the FelixConfiguration, as felix reads them": {
			snap: &Snapshot{DaemonSets: calicoNode(corev1.EnvVar{Name: "FELIX_BPFENABLED", Value: "false"}), FelixConfigurations: []FelixConfiguration{felix("default", true)}}},
		"calico-node's FELIX_BPFENABLED=true beside the FelixConfiguration": {
			snap: &Snapshot{DaemonSets: calicoNode(corev1.EnvVar{Name: "FELIX_BPFENABLED", Value: "true"}), FelixConfigurations: []FelixConfiguration{felix("default", true)}},
			want: "DaemonSet calico-system/calico-node FELIX_BPFENABLED=true"},
		"kube-router's service proxy": {
			snap: &Snapshot{DaemonSets: []appsv1.DaemonSet{agent("kube-system", "kube-router", "docker.io/cloudnativelabs/kube-router:v2.5", []string{"--run-router=true", "--run-service-proxy=true"})}},
			want: "DaemonSet kube-system/kube-router --run-service-proxy"},
		"kube-router without it": {
			snap: &Snapshot{DaemonSets: []appsv1.DaemonSet{agent("kube-system", "kube-router", "docker.io/cloudnativelabs/kube-router:v2.5", []string{"--run-router=true", "--run-service-proxy=false"})}}},
		"antrea proxyAll": {
			snap: &Snapshot{ConfigMaps: []corev1.ConfigMap{configMap("kube-system", "antrea-config", map[string]string{"antrea-agent.conf": "featureGates:\n  AntreaProxy: true\nantreaProxy:\n  # every Service, from the nodes too\n  proxyAll: true\n"})}},
			want: "ConfigMap kube-system/antrea-config antrea-agent.conf antreaProxy.proxyAll=true"},
		"antrea proxy for pods only": {
			snap: &Snapshot{ConfigMaps: []corev1.ConfigMap{configMap("kube-system", "antrea-config", map[string]string{"antrea-agent.conf": "antreaProxy:\n  proxyAll: false\n"})}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, ok := DetectProxyReplacement(tc.snap)
			if tc.want == "" {
				if ok {
					t.Errorf("found %+v, want none", got)
				}
				return
			}
			if !ok || got.Evidence != tc.want || got.Name == "" {
				t.Errorf("found %+v (%v), want evidence %q", got, ok, tc.want)
			}
		})
	}
}

func TestInferProxyReplacement(t *testing.T) {
	cilium := agent("kube-system", "cilium", "quay.io/cilium/cilium:v1.18.0", nil)
	if r, ok := InferProxyReplacement(&Snapshot{DaemonSets: []appsv1.DaemonSet{cilium}}); !ok || !strings.Contains(r.Evidence, "no kube-proxy DaemonSet") {
		t.Errorf("cilium without kube-proxy: %+v, %v", r, ok)
	}
	proxy := agent("kube-system", "kube-proxy", "registry.k8s.io/kube-proxy:v1.37.2", nil)
	if r, ok := InferProxyReplacement(&Snapshot{DaemonSets: []appsv1.DaemonSet{cilium, proxy}}); ok {
		t.Errorf("cilium beside kube-proxy: %+v", r)
	}
	tenant := agent("shop", "cilium", "quay.io/cilium/cilium:v1.18.0", nil)
	if r, ok := InferProxyReplacement(&Snapshot{DaemonSets: []appsv1.DaemonSet{tenant}}); ok {
		t.Errorf("a tenant's DaemonSet named cilium: %+v", r)
	}
}
