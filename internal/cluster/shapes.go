package cluster

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Headless reports whether a service has no cluster IP: DNS answers with its pods' addresses
// and no proxy translates anything.
func Headless(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP == corev1.ClusterIPNone
}

// ExternalNameTarget returns the cluster service an ExternalName service's name points to
// (name.namespace, name.namespace.svc, or name.namespace.svc.<cluster domain>), or nil when
// the name is not a cluster service's.
func (s *Snapshot) ExternalNameTarget(svc *corev1.Service) *corev1.Service {
	if svc == nil || svc.Spec.Type != corev1.ServiceTypeExternalName {
		return nil
	}
	labels := strings.Split(strings.TrimSuffix(strings.ToLower(svc.Spec.ExternalName), "."), ".")
	if len(labels) < 2 || (len(labels) > 2 && labels[2] != "svc") {
		return nil
	}
	t := s.Service(labels[1], labels[0])
	if t == nil || t.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	return t
}
