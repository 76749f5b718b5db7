package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// serviceAccountMount is where the kubelet projects a pod's service account token.
const serviceAccountMount = "/var/run/secrets/kubernetes.io/serviceaccount"

// runInContainerd runs a hostNetwork container of an image the lab's containerd holds as a
// container of that image, set up from the pod as a kubelet and the CRI plugin set it up:
// command and args over the image's entrypoint, the environment, the securityContext's user,
// capabilities and read-only root, hostPID, the volume mounts and the service account token,
// in the node's network namespace.
func (k *kubelet) runInContainerd(ctx context.Context, pod *corev1.Pod, node *Node, c corev1.Container, st *podState, img OCIImage) error {
	env, err := k.containerEnv(ctx, pod, node, c)
	if err != nil {
		return err
	}
	lookup := envMap(env)
	argv, args := img.Config.Entrypoint, img.Config.Cmd
	if len(c.Command) > 0 {
		argv, args = c.Command, nil
	}
	if len(c.Args) > 0 {
		args = c.Args
	}
	argv = append(append([]string{}, argv...), args...)
	for i := range argv {
		argv[i] = expandVars(argv[i], lookup)
	}
	if len(argv) == 0 {
		return fmt.Errorf("container %s of pod %s: no command and no entrypoint", c.Name, klogKey(pod))
	}
	priv := containerPrivileges(pod, c)
	if !priv.restricted {
		return fmt.Errorf("container %s of pod %s: privileged containers do not run in the lab's containerd", c.Name, klogKey(pod))
	}
	spec := containerSpec{
		id: string(pod.UID) + "-" + c.Name, image: c.Image, argv: argv, env: env,
		uid: priv.uid, gid: priv.gid, noNewPrivs: priv.noNewPrivs, readOnlyRoot: priv.readOnlyRoot,
		netns: filepath.Join(netnsDir, node.Netns), hostPID: pod.Spec.HostPID, hostname: node.Name,
	}
	for _, name := range priv.caps {
		spec.caps = append(spec.caps, "CAP_"+strings.ToUpper(name))
	}
	switch seccompType(pod, c) {
	case corev1.SeccompProfileTypeRuntimeDefault:
		spec.runtimeDefaultSeccomp = true
	case corev1.SeccompProfileTypeLocalhost:
		return fmt.Errorf("container %s of pod %s: Localhost seccomp profiles do not run in the lab's containerd", c.Name, klogKey(pod))
	}
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
		dir, err := k.serviceAccountDir(ctx, pod)
		if err != nil {
			return err
		}
		st.saDir = dir
		spec.mounts = append(spec.mounts, bindMount{src: dir, dst: serviceAccountMount, readOnly: true})
	}
	for _, vm := range c.VolumeMounts {
		if vm.MountPath == serviceAccountMount && st.saDir != "" {
			continue // the kube-api-access volume the API server added: the token above
		}
		m, err := k.volumeMount(pod, vm)
		if err != nil {
			return fmt.Errorf("container %s of pod %s: %w", c.Name, klogKey(pod), err)
		}
		spec.mounts = append(spec.mounts, m)
	}
	logName := fmt.Sprintf("pods/%s_%s_%s", pod.Namespace, pod.Name, c.Name)
	p, err := k.l.containerd.runContainer(ctx, spec, k.l.logPath(logName))
	if err != nil {
		return err
	}
	st.procs[c.Name] = p
	return nil
}

// seccompType is the container's seccomp profile type, else its pod's, else Unconfined.
func seccompType(pod *corev1.Pod, c corev1.Container) corev1.SeccompProfileType {
	if sc := c.SecurityContext; sc != nil && sc.SeccompProfile != nil {
		return sc.SeccompProfile.Type
	}
	if psc := pod.Spec.SecurityContext; psc != nil && psc.SeccompProfile != nil {
		return psc.SeccompProfile.Type
	}
	return corev1.SeccompProfileTypeUnconfined
}

// volumeMount binds a container's volume mount: a hostPath volume's path, or an emptyDir
// made under the pod's directory.
func (k *kubelet) volumeMount(pod *corev1.Pod, vm corev1.VolumeMount) (bindMount, error) {
	m := bindMount{dst: vm.MountPath, readOnly: vm.ReadOnly,
		hostToContainer: vm.MountPropagation != nil && *vm.MountPropagation != corev1.MountPropagationNone}
	for _, v := range pod.Spec.Volumes {
		if v.Name != vm.Name {
			continue
		}
		switch {
		case v.HostPath != nil:
			if t := v.HostPath.Type; t != nil && *t == corev1.HostPathDirectoryOrCreate {
				if err := os.MkdirAll(v.HostPath.Path, 0o755); err != nil {
					return m, fmt.Errorf("create hostPath %s: %w", v.HostPath.Path, err)
				}
			}
			m.src = v.HostPath.Path
		case v.EmptyDir != nil:
			m.src = filepath.Join(k.l.cfg.Dir, "pods", string(pod.UID), "volumes", v.Name)
			if err := os.MkdirAll(m.src, 0o755); err != nil {
				return m, fmt.Errorf("create emptyDir %s: %w", v.Name, err)
			}
		default:
			return m, fmt.Errorf("volume %s: only hostPath and emptyDir volumes are bound in the lab", v.Name)
		}
		return m, nil
	}
	return m, fmt.Errorf("volume mount %s names no volume", vm.Name)
}

// startContainerd starts the lab's containerd when Config.OCIImages names images, and
// imports them. It runs in the control plane's namespace, so that a Sweep after a crash
// finds the daemon and its shims; containers join their node's namespace.
func (l *Lab) startContainerd(ctx context.Context) error {
	if len(l.cfg.OCIImages) == 0 {
		return nil
	}
	c, err := StartContainerd(ctx, ContainerdOptions{Dir: filepath.Join(l.cfg.Dir, "containerd"), Netns: l.ns("cp")})
	if err != nil {
		return err
	}
	l.containerd = c
	for name, archive := range l.cfg.OCIImages {
		if err := c.Import(ctx, archive, name); err != nil {
			return err
		}
	}
	return nil
}

// Containerd is the lab's containerd, nil when Config.OCIImages names no image.
func (l *Lab) Containerd() *Containerd { return l.containerd }
