package controllers

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// CollectorCapabilities are the only capabilities a collector keeps, each measured in the
// lab (a snapshot taken with them equals one taken as full root):
//   - SYS_ADMIN: setns into a pod's network namespace;
//   - SYS_PTRACE: open /proc/<pid>/ns/net of a process that is not the collector's own
//     (every pod's, when the runtime does not bind-mount namespaces under /var/run/netns);
//   - NET_ADMIN: nftables and ipset dumps, and the ipvs genetlink family, which the kernel
//     answers only to it;
//   - NET_RAW: the ICMP probe's raw socket.
//
// Nothing else: the collector writes no file (so the root filesystem is read-only) and
// reads /proc/sys and the namespace files as the root user, without DAC_OVERRIDE.
func CollectorCapabilities() []corev1.Capability {
	return []corev1.Capability{"NET_ADMIN", "NET_RAW", "SYS_ADMIN", "SYS_PTRACE"}
}

// CollectorSecurityContext is the collector container's securityContext: every capability
// dropped but CollectorCapabilities, the root filesystem read-only, and the runtime's
// default seccomp profile, which allows setns to a process holding SYS_ADMIN.
// The user is root because capabilities reach a container's process only as root
// (Kubernetes sets no ambient capabilities), whatever user the image names.
// allowPrivilegeEscalation stays unset: the API refuses it false next to SYS_ADMIN.
func CollectorSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		Capabilities: &corev1.Capabilities{
			Drop: []corev1.Capability{"ALL"},
			Add:  CollectorCapabilities(),
		},
		ReadOnlyRootFilesystem: ptr.To(true),
		RunAsUser:              ptr.To[int64](0),
		SeccompProfile:         &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}
