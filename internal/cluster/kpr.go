package cluster

import (
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ProxyReplacement is a data plane that serves Services in kube-proxy's stead, as the
// cluster's own configuration says.
type ProxyReplacement struct {
	// Name is the replacement as its project names it ("Cilium's kube-proxy replacement").
	Name string
	// Evidence is where the configuration says so ("ConfigMap kube-system/cilium-config
	// kube-proxy-replacement=true").
	Evidence string
}

// ProxyNamespaces are the namespaces the replacements' agents and configuration live in;
// nothing in a tenant's namespace can make a cluster look kube-proxy-free.
var ProxyNamespaces = []string{"kube-system", "cilium", "calico-system", "kube-router", "antrea-system"}

// The ConfigMaps of the replacements, by name, in ProxyNamespaces, and the key each is read by.
const (
	CiliumConfigMap = "cilium-config"
	AntreaConfigMap = "antrea-config"
	ciliumKPRKey    = "kube-proxy-replacement"
	antreaAgentKey  = "antrea-agent.conf"
)

// ProxyConfigKeys are the keys DetectProxyReplacement reads, by ConfigMap name: all the
// snapshot needs to keep of them, the rest of a cilium-config or antrea-config being
// addresses and settings the engine never reads.
func ProxyConfigKeys() map[string]string {
	return map[string]string{CiliumConfigMap: ciliumKPRKey, AntreaConfigMap: antreaAgentKey}
}

// FelixConfigurationGroup and friends name Calico's FelixConfiguration, the datastore's
// configuration of every felix; DefaultFelixConfiguration is the one that applies to all
// nodes (node.<name> ones override it on a node).
const (
	FelixConfigurationGroup   = "crd.projectcalico.org"
	FelixConfigurationVersion = "v1"
	KindFelixConfiguration    = "FelixConfiguration"
	DefaultFelixConfiguration = "default"
)

// FelixConfiguration is the part of Calico's FelixConfiguration the engine reads.
type FelixConfiguration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              FelixConfigurationSpec `json:"spec,omitempty"`
}

// FelixConfigurationSpec is the part of a FelixConfiguration's spec the engine reads.
type FelixConfigurationSpec struct {
	// BPFEnabled turns on the eBPF data plane, which serves Services in kube-proxy's stead.
	BPFEnabled *bool `json:"bpfEnabled,omitempty"`
}

// DetectProxyReplacement finds a kube-proxy replacement by its own tell-tales, in the
// system namespaces only: Cilium's kube-proxy-replacement (its cilium-config ConfigMap or
// the agent's flag), Calico's eBPF data plane (calico-node's FELIX_BPFENABLED, or bpfEnabled
// in the default FelixConfiguration where calico-node does not set it), kube-router's
// service proxy (on unless --run-service-proxy=false) and Antrea's proxy for all traffic
// (proxyAll in antrea-agent.conf).
func DetectProxyReplacement(s *Snapshot) (ProxyReplacement, bool) {
	for i := range s.ConfigMaps {
		cm := &s.ConfigMaps[i]
		if !slices.Contains(ProxyNamespaces, cm.Namespace) {
			continue
		}
		where := "ConfigMap " + cm.Namespace + "/" + cm.Name
		switch cm.Name {
		case CiliumConfigMap:
			if v := cm.Data[ciliumKPRKey]; ciliumReplaces(v) {
				return ProxyReplacement{Name: "Cilium's kube-proxy replacement", Evidence: where + " kube-proxy-replacement=" + v}, true
			}
		case AntreaConfigMap:
			if antreaProxyAll(cm.Data[antreaAgentKey]) {
				return ProxyReplacement{Name: "Antrea's proxy (proxyAll)", Evidence: where + " antrea-agent.conf antreaProxy.proxyAll=true"}, true
			}
		}
	}
	if r, ok := felixReplacement(s); ok {
		return r, true
	}
	for i := range s.DaemonSets {
		ds := &s.DaemonSets[i]
		if !slices.Contains(ProxyNamespaces, ds.Namespace) {
			continue
		}
		if r, ok := daemonSetReplacement(ds); ok {
			return r, true
		}
	}
	return ProxyReplacement{}, false
}

// felixReplacement reads bpfEnabled in the default FelixConfiguration, the way Calico's docs
// turn the eBPF data plane on. Felix takes its environment over the datastore, so a
// calico-node that sets FELIX_BPFENABLED decides by that instead (daemonSetReplacement).
func felixReplacement(s *Snapshot) (ProxyReplacement, bool) {
	for i := range s.DaemonSets {
		ds := &s.DaemonSets[i]
		if !slices.Contains(ProxyNamespaces, ds.Namespace) {
			continue
		}
		for _, c := range ds.Spec.Template.Spec.Containers {
			if _, set := envValue(c.Env, "FELIX_BPFENABLED"); set && isCalicoNode(c) {
				return ProxyReplacement{}, false
			}
		}
	}
	for _, fc := range s.FelixConfigurations {
		if fc.Name == DefaultFelixConfiguration && fc.Spec.BPFEnabled != nil && *fc.Spec.BPFEnabled {
			return ProxyReplacement{Name: "Calico's eBPF data plane", Evidence: KindFelixConfiguration + " " + DefaultFelixConfiguration + " bpfEnabled=true"}, true
		}
	}
	return ProxyReplacement{}, false
}

func isCalicoNode(c corev1.Container) bool {
	return c.Name == "calico-node" || strings.Contains(c.Image, "calico/node")
}

func daemonSetReplacement(ds *appsv1.DaemonSet) (ProxyReplacement, bool) {
	where := DaemonSetEvidence + ds.Namespace + "/" + ds.Name
	for _, c := range ds.Spec.Template.Spec.Containers {
		args := slices.Concat(c.Command, c.Args)
		switch {
		case strings.Contains(c.Image, "cilium") && !strings.Contains(c.Image, "operator"):
			if v, ok := flagValue(args, "kube-proxy-replacement"); ok && ciliumReplaces(v) {
				return ProxyReplacement{Name: "Cilium's kube-proxy replacement", Evidence: where + " --kube-proxy-replacement=" + v}, true
			}
			if v, ok := envValue(c.Env, "CILIUM_KUBE_PROXY_REPLACEMENT"); ok && ciliumReplaces(v) {
				return ProxyReplacement{Name: "Cilium's kube-proxy replacement", Evidence: where + " CILIUM_KUBE_PROXY_REPLACEMENT=" + v}, true
			}
		case isCalicoNode(c):
			if v, ok := envValue(c.Env, "FELIX_BPFENABLED"); ok && strings.EqualFold(v, "true") {
				return ProxyReplacement{Name: "Calico's eBPF data plane", Evidence: where + " FELIX_BPFENABLED=true"}, true
			}
		case strings.Contains(c.Image, "kube-router"):
			// The service proxy is on unless turned off.
			if v, ok := flagValue(args, "run-service-proxy"); ok && (v == "" || strings.EqualFold(v, "true")) {
				return ProxyReplacement{Name: "kube-router's service proxy", Evidence: where + " --run-service-proxy"}, true
			}
		}
	}
	return ProxyReplacement{}, false
}

// ciliumReplaces reads kube-proxy-replacement as Cilium does: "true" (and the older
// "strict") replace kube-proxy for every service; "partial", "probe", "false" and "disabled"
// leave kube-proxy to do it.
func ciliumReplaces(v string) bool {
	v = strings.ToLower(strings.TrimSpace(v))
	return v == "true" || v == "strict"
}

// antreaProxyAll finds `proxyAll: true` in the antreaProxy section of antrea-agent.conf.
func antreaProxyAll(conf string) bool {
	in := false
	for _, line := range strings.Split(conf, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		indented := line != strings.TrimLeft(line, " \t")
		switch {
		case !indented:
			in = strings.HasPrefix(t, "antreaProxy:")
		case in && strings.HasPrefix(t, "proxyAll:"):
			return strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(t, "proxyAll:")), "true")
		}
	}
	return false
}

// flagValue finds --name=value or --name value among args; a bare --name gives "".
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		for _, f := range strings.Fields(a) {
			switch {
			case f == "--"+name:
				if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
					return args[i+1], true
				}
				return "", true
			case strings.HasPrefix(f, "--"+name+"="):
				return strings.TrimPrefix(f, "--"+name+"="), true
			}
		}
	}
	return "", false
}

func envValue(env []corev1.EnvVar, name string) (string, bool) {
	for _, e := range env {
		if e.Name == name && e.ValueFrom == nil {
			return e.Value, true
		}
	}
	return "", false
}

// InferProxyReplacement is the tell-tale of a Cilium cluster installed without kube-proxy
// whose ConfigMap the snapshot lacks: Cilium's agent runs in a system namespace and no
// kube-proxy DaemonSet does, so something must serve the Services, and only the agent can.
// The caller adds the node's own evidence (no kube-proxy rules).
func InferProxyReplacement(s *Snapshot) (ProxyReplacement, bool) {
	cilium := ""
	for i := range s.DaemonSets {
		ds := &s.DaemonSets[i]
		if !slices.Contains(ProxyNamespaces, ds.Namespace) {
			continue
		}
		if dsMentions(ds, []string{"kube-proxy"}) {
			return ProxyReplacement{}, false
		}
		if cilium == "" && ds.Name == "cilium" {
			cilium = DaemonSetEvidence + ds.Namespace + "/" + ds.Name
		}
	}
	if cilium == "" {
		return ProxyReplacement{}, false
	}
	return ProxyReplacement{Name: "Cilium's kube-proxy replacement", Evidence: cilium + " runs and no kube-proxy DaemonSet does"}, true
}
