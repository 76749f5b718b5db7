package controllers

import (
	"context"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/netdiag/netdiag/internal/cluster"
)

// The configuration that says a kube-proxy replacement serves the Services, read by name
// and past the cache. The rule is cluster-wide but names the objects: a kubebuilder marker
// cannot give resourceNames per namespace, and a Role in each of cluster.ProxyNamespaces
// would fail to install where a namespace does not exist (most clusters have one or two of
// them). The code asks for these names in cluster.ProxyNamespaces only; nothing lists or
// watches ConfigMaps outside the controller's namespace, so the manager's cache holds none.
// +kubebuilder:rbac:groups="",resources=configmaps,resourceNames=cilium-config;antrea-config,verbs=get
// +kubebuilder:rbac:groups=crd.projectcalico.org,resources=felixconfigurations,resourceNames=default,verbs=get

// readProxyConfig puts into snap what cluster.DetectProxyReplacement reads beyond the
// DaemonSets: the cilium-config and antrea-config ConfigMaps of the system namespaces that
// exist (cache reads namespaces), with only the key the detection reads, and Calico's
// default FelixConfiguration where its CRD is served (live reads them). A missing object,
// or one the controller may not read, is left out and logged at V(1): the detection then
// goes by the DaemonSets. Any other failure is an error, since a replacement left unseen
// turns an Unknown into a false Critical.
func readProxyConfig(ctx context.Context, cache, live client.Reader, snap *cluster.Snapshot) error {
	log := logf.FromContext(ctx)
	keys := cluster.ProxyConfigKeys()
	for _, ns := range cluster.ProxyNamespaces {
		if err := cache.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{}); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return fmt.Errorf("get Namespace %s for the kube-proxy replacement's configuration: %w", ns, err)
		}
		for _, name := range slices.Sorted(maps.Keys(keys)) {
			cm := &corev1.ConfigMap{}
			err := live.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cm)
			if absentOrForbidden(err) {
				log.V(1).Info("ConfigMap not read for the kube-proxy replacement's detection", "configMap", klog.KRef(ns, name), "reason", apierrors.ReasonForError(err))
				continue
			}
			if err != nil {
				return fmt.Errorf("get ConfigMap %s for the kube-proxy replacement's detection: %w", klog.KRef(ns, name), err)
			}
			kept := corev1.ConfigMap{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			}
			if v, ok := cm.Data[keys[name]]; ok {
				kept.Data = map[string]string{keys[name]: v}
			}
			snap.ConfigMaps = append(snap.ConfigMaps, kept)
		}
	}
	fc, err := defaultFelixConfiguration(ctx, live)
	if err != nil {
		return err
	}
	if fc != nil {
		snap.FelixConfigurations = append(snap.FelixConfigurations, *fc)
	}
	return nil
}

// defaultFelixConfiguration reads Calico's default FelixConfiguration; nil where the CRD is
// not served, the object does not exist or may not be read.
func defaultFelixConfiguration(ctx context.Context, live client.Reader) (*cluster.FelixConfiguration, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: cluster.FelixConfigurationGroup, Version: cluster.FelixConfigurationVersion, Kind: cluster.KindFelixConfiguration})
	err := live.Get(ctx, client.ObjectKey{Name: cluster.DefaultFelixConfiguration}, u)
	if meta.IsNoMatchError(err) {
		return nil, nil
	}
	if absentOrForbidden(err) {
		logf.FromContext(ctx).V(1).Info("FelixConfiguration not read for the kube-proxy replacement's detection", "felixConfiguration", cluster.DefaultFelixConfiguration, "reason", apierrors.ReasonForError(err))
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get FelixConfiguration %s for the kube-proxy replacement's detection: %w", cluster.DefaultFelixConfiguration, err)
	}
	fc := &cluster.FelixConfiguration{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, fc); err != nil {
		return nil, fmt.Errorf("read FelixConfiguration %s: %w", cluster.DefaultFelixConfiguration, err)
	}
	fc.ObjectMeta = metav1.ObjectMeta{Name: u.GetName()}
	return fc, nil
}

// absentOrForbidden tells a configuration object that is absent or not the controller's to read.
func absentOrForbidden(err error) bool {
	return apierrors.IsNotFound(err) || apierrors.IsForbidden(err)
}
