package lab

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// defaultCapabilities are the capabilities containerd and CRI-O give a container that asks
// for none (and drops none).
var defaultCapabilities = []string{
	"audit_write", "chown", "dac_override", "fowner", "fsetid", "kill", "mknod", "net_bind_service",
	"net_raw", "setfcap", "setgid", "setpcap", "setuid", "sys_chroot",
}

// privileges is what a container's securityContext leaves the process the kubelet stand-in
// runs for it. The zero value is full root, as for a privileged container.
type privileges struct {
	// restricted says caps, and nothing more, are what the process keeps.
	restricted bool
	// caps are the capabilities kept, as setpriv names them (net_admin), sorted.
	caps []string
	// uid and gid are the user and group to run as; nil is root.
	uid, gid *int64
	// noNewPrivs is allowPrivilegeEscalation: false.
	noNewPrivs bool
	// readOnlyRoot is readOnlyRootFilesystem: the volumes stay writable, the rest does not.
	readOnlyRoot bool
}

// containerPrivileges reads a container's securityContext (and its pod's) as a runtime
// does: privileged keeps everything; otherwise the runtime's default set, less what is
// dropped ("ALL" drops every one), plus what is added.
func containerPrivileges(pod *corev1.Pod, c corev1.Container) privileges {
	var p privileges
	if psc := pod.Spec.SecurityContext; psc != nil {
		p.uid, p.gid = psc.RunAsUser, psc.RunAsGroup
	}
	sc := c.SecurityContext
	if sc != nil {
		if sc.RunAsUser != nil {
			p.uid = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			p.gid = sc.RunAsGroup
		}
		p.noNewPrivs = sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation
		p.readOnlyRoot = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
	}
	if sc != nil && sc.Privileged != nil && *sc.Privileged {
		p.noNewPrivs = false
		return p
	}
	p.restricted = true
	caps := map[string]bool{}
	for _, name := range defaultCapabilities {
		caps[name] = true
	}
	if sc != nil && sc.Capabilities != nil {
		for _, d := range sc.Capabilities.Drop {
			if capName(d) == "all" {
				clear(caps)
			}
			delete(caps, capName(d))
		}
		for _, a := range sc.Capabilities.Add {
			caps[capName(a)] = true
		}
	}
	for name := range caps {
		if capNameOK.MatchString(name) {
			p.caps = append(p.caps, name)
		}
	}
	slices.Sort(p.caps)
	return p
}

// capNameOK keeps what reaches the shell to capability-shaped words; setpriv refuses a
// word that names no capability, as a runtime refuses the container.
var capNameOK = regexp.MustCompile(`^[a-z_]+$`)

// capName is a securityContext capability (NET_ADMIN or CAP_NET_ADMIN) as setpriv names it.
func capName(c corev1.Capability) string {
	return strings.TrimPrefix(strings.ToLower(string(c)), "cap_")
}

// setupSteps are the shell steps, run as full root in the command's private mount
// namespace, that shape its filesystem before the privileges drop.
func (p privileges) setupSteps() []string {
	if !p.readOnlyRoot {
		return nil
	}
	// Only the root mount's flags, in this mount namespace: the mounts below it (proc, sys,
	// the service account token, the host's /run/netns) stay as a pod's volumes would.
	return []string{"mount -o remount,bind,ro /"}
}

// execStep is the shell step that runs "$@" with exactly these privileges: as root, the
// capabilities in every set (bounding, inheritable, ambient; exec makes them permitted and
// effective); as another user, the bounding set only, so that, as in a real pod, the
// process holds none of them.
func (p privileges) execStep() string {
	if !p.restricted && p.uid == nil && p.gid == nil {
		return `exec "$@"`
	}
	args := []string{"exec", "setpriv"}
	if p.uid != nil && *p.uid != 0 || p.gid != nil && *p.gid != 0 {
		gid := int64(0)
		if p.gid != nil {
			gid = *p.gid
		}
		uid := int64(0)
		if p.uid != nil {
			uid = *p.uid
		}
		args = append(args, "--reuid="+strconv.FormatInt(uid, 10), "--regid="+strconv.FormatInt(gid, 10), "--clear-groups")
	}
	if p.restricted {
		set := "-all"
		for _, c := range p.caps {
			set += ",+" + c
		}
		args = append(args, "--bounding-set="+set)
		if p.uid == nil || *p.uid == 0 {
			args = append(args, "--inh-caps="+set, "--ambient-caps="+set)
		}
	}
	if p.noNewPrivs {
		args = append(args, "--no-new-privs")
	}
	return strings.Join(append(args, "--", `"$@"`), " ")
}

// shell is the `sh -c` script that starts a container's command: the token mount when
// the pod has one, the privileges' setup, and the exec that drops them.
func (p privileges) shell(mountToken bool) string {
	var steps []string
	if mountToken {
		// ip netns exec gives the command a private mount namespace; the token is mounted
		// where client libraries look for it, and the mount disappears with the command.
		steps = append(steps,
			`mkdir -p /run/secrets`, `mount -t tmpfs ndlab /run/secrets`,
			`mkdir -p /run/secrets/kubernetes.io/serviceaccount`,
			`mount --bind "$NDLAB_SA_DIR" /run/secrets/kubernetes.io/serviceaccount`)
	}
	steps = append(steps, p.setupSteps()...)
	return strings.Join(append(steps, p.execStep()), " && ")
}
