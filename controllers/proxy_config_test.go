package controllers

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/netdiag/netdiag/internal/cluster"
)

var felixGVK = schema.GroupVersionKind{Group: cluster.FelixConfigurationGroup, Version: cluster.FelixConfigurationVersion, Kind: cluster.KindFelixConfiguration}

func felixConfiguration(name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(felixGVK)
	u.SetName(name)
	return u
}

// felixMapper knows the core kinds and, where felix, Calico's FelixConfiguration, as
// discovery does where its CRD is installed.
func felixMapper(felix bool) meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	for gvk := range clientgoscheme.Scheme.AllKnownTypes() {
		if gvk.Group == "" {
			m.Add(gvk, meta.RESTScopeNamespace)
		}
	}
	m.Add(corev1.SchemeGroupVersion.WithKind("Namespace"), meta.RESTScopeRoot)
	if felix {
		m.Add(felixGVK, meta.RESTScopeRoot)
	}
	return m
}

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func TestReadProxyConfig(t *testing.T) {
	cilium := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "cilium-config", Annotations: map[string]string{"meta.helm.sh/release-name": "cilium"}},
		Data:       map[string]string{"kube-proxy-replacement": "true", "cluster-pool-ipv4-cidr": "10.0.0.0/8"},
	}
	// A namespace the cluster does not have: the controller does not ask.
	ghost := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "cilium", Name: "cilium-config"}, Data: map[string]string{"kube-proxy-replacement": "true"}}
	tenant := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "cilium-config"}, Data: map[string]string{"kube-proxy-replacement": "true"}}
	antrea := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "antrea-config"}, Data: map[string]string{"antrea-agent.conf": "antreaProxy:\n  proxyAll: true\n"}}
	cache := fake.NewClientBuilder().WithObjects(namespace("kube-system"), namespace("calico-system"), namespace("shop")).Build()
	forbidAntrea := interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		if key.Name == "antrea-config" {
			return apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, key.Name, errors.New("RBAC: not allowed"))
		}
		return c.Get(ctx, key, obj, opts...)
	}}
	type want struct {
		configMaps []corev1.ConfigMap
		felix      []cluster.FelixConfiguration
		detected   string
		err        bool
	}
	trimmed := func(cm *corev1.ConfigMap, key string) corev1.ConfigMap {
		return corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Namespace: cm.Namespace, Name: cm.Name},
			Data: map[string]string{key: cm.Data[key]}}
	}
	on := true
	cases := map[string]struct {
		live client.Reader
		want want
	}{
		"cilium-config in kube-system, only its key; none from a missing or a tenant's namespace": {
			live: fake.NewClientBuilder().WithRESTMapper(felixMapper(false)).WithObjects(cilium, ghost, tenant).Build(),
			want: want{configMaps: []corev1.ConfigMap{trimmed(cilium, "kube-proxy-replacement")}, detected: "ConfigMap kube-system/cilium-config kube-proxy-replacement=true"}},
		"a Forbidden antrea-config is left out": {
			live: fake.NewClientBuilder().WithRESTMapper(felixMapper(false)).WithObjects(antrea).WithInterceptorFuncs(forbidAntrea).Build()},
		"antrea-config when it may be read": {
			live: fake.NewClientBuilder().WithRESTMapper(felixMapper(false)).WithObjects(antrea).Build(),
			want: want{configMaps: []corev1.ConfigMap{trimmed(antrea, "antrea-agent.conf")}, detected: "ConfigMap kube-system/antrea-config antrea-agent.conf antreaProxy.proxyAll=true"}},
		"Calico's default FelixConfiguration where its CRD is served": {
			live: fake.NewClientBuilder().WithRESTMapper(felixMapper(true)).WithObjects(
				felixConfiguration("default", map[string]any{"bpfEnabled": true, "logSeverityScreen": "Info"}),
				felixConfiguration("node.worker-1", map[string]any{"bpfEnabled": false})).Build(),
			want: want{felix: []cluster.FelixConfiguration{{TypeMeta: metav1.TypeMeta{APIVersion: felixGVK.GroupVersion().String(), Kind: felixGVK.Kind}, ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: cluster.FelixConfigurationSpec{BPFEnabled: &on}}},
				detected: "FelixConfiguration default bpfEnabled=true"}},
		"the CRD served, no default FelixConfiguration": {
			live: fake.NewClientBuilder().WithRESTMapper(felixMapper(true)).Build()},
		"a failure that a retry may mend is an error": {
			live: fake.NewClientBuilder().WithRESTMapper(felixMapper(false)).WithInterceptorFuncs(interceptor.Funcs{
				Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
					return apierrors.NewServiceUnavailable("etcd is down")
				}}).Build(),
			want: want{err: true}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			snap := &cluster.Snapshot{}
			err := readProxyConfig(context.Background(), cache, tc.live, snap)
			if (err != nil) != tc.want.err {
				t.Fatalf("error %v, want one: %v", err, tc.want.err)
			}
			if diff := cmp.Diff(tc.want.configMaps, snap.ConfigMaps); diff != "" {
				t.Errorf("ConfigMaps (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want.felix, snap.FelixConfigurations); diff != "" {
				t.Errorf("FelixConfigurations (-want +got):\n%s", diff)
			}
			r, ok := cluster.DetectProxyReplacement(snap)
			if tc.want.detected == "" && ok || tc.want.detected != "" && r.Evidence != tc.want.detected {
				t.Errorf("detected %+v (%v), want %q", r, ok, tc.want.detected)
			}
		})
	}
}
