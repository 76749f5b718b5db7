package cluster

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ds(name string, images ...string) appsv1.DaemonSet {
	d := appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system"}}
	for i, img := range images {
		d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "c" + string(rune('0'+i)), Image: img})
	}
	return d
}

func TestDetectPlugin(t *testing.T) {
	cases := map[string]struct {
		daemonSets []appsv1.DaemonSet
		want       string
		found      bool
	}{
		"flannel by name":        {[]appsv1.DaemonSet{ds("kube-proxy", "registry.k8s.io/kube-proxy:v1.37.2"), ds("kube-flannel-ds", "ghcr.io/flannel-io/flannel:v0.27.0")}, "flannel", true},
		"flannel by image only":  {[]appsv1.DaemonSet{ds("network", "docker.io/flannel/flannel:v0.26.1")}, "flannel", true},
		"calico over kube-proxy": {[]appsv1.DaemonSet{ds("kube-proxy", "registry.k8s.io/kube-proxy:v1.37.2"), ds("calico-node", "docker.io/calico/node:v3.29.0")}, "calico", true},
		"canal is not flannel":   {[]appsv1.DaemonSet{ds("canal", "docker.io/calico/node:v3.29.0", "quay.io/coreos/flannel:v0.15.1")}, "canal", true},
		"nothing known":          {[]appsv1.DaemonSet{ds("kube-proxy", "registry.k8s.io/kube-proxy:v1.37.2")}, "", false},
		"no daemonsets":          {nil, "", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, found := DetectPlugin(&Snapshot{DaemonSets: tc.daemonSets})
			if got != tc.want || found != tc.found {
				t.Errorf("DetectPlugin = %q, %v; want %q, %v", got, found, tc.want, tc.found)
			}
		})
	}
}
