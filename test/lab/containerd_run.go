package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// cgroupParent is the cgroup the lab's containers are made under, in every hierarchy; runc
// removes each container's own when the container goes.
const cgroupParent = "netdiag-lab"

// containerSpec is what the lab asks of one container: what a kubelet hands the runtime
// for a container of a pod, already resolved against the pod.
type containerSpec struct {
	id    string
	image string
	// argv is the process's command line (the pod's command and args, or the image's).
	argv []string
	// env is added to the image's environment.
	env []string
	// uid and gid are the process's user; nil is the image's user.
	uid, gid *int64
	// caps are the only capabilities the process keeps (CAP_NET_ADMIN, ...).
	caps       []string
	noNewPrivs bool
	// runtimeDefaultSeccomp is seccompProfile RuntimeDefault: containerd's default profile
	// for caps. Without it the process runs unconfined, as Kubernetes' default is.
	runtimeDefaultSeccomp bool
	readOnlyRoot          bool
	// netns is the path of the network namespace the container joins (a hostNetwork pod's
	// node, /run/netns/<node>).
	netns string
	// hostPID keeps the container in the daemon's PID namespace, the machine's.
	hostPID  bool
	hostname string
	mounts   []bindMount
}

// bindMount is a host directory or file bound into a container.
type bindMount struct {
	src, dst string
	readOnly bool
	// hostToContainer is MountPropagation HostToContainer: mounts made under src later show
	// up in the container.
	hostToContainer bool
}

// runContainer runs a container as `ctr run --rm --config` does, returned as the process of
// that ctr, which ends with the container and with its exit code. The runtime spec is
// containerd's default one with the image's config and spec's settings on top; its root
// filesystem is a snapshot of the image, removed when the container ends.
func (c *Containerd) runContainer(ctx context.Context, spec containerSpec, logPath string) (*process, error) {
	img, ok := c.image(spec.image)
	if !ok {
		return nil, fmt.Errorf("run container %s: image %s was not imported", spec.id, spec.image)
	}
	base, err := c.defaultSpec(ctx)
	if err != nil {
		return nil, err
	}
	rootfs, err := c.prepareSnapshot(ctx, spec.id, img.ChainID)
	if err != nil {
		return nil, err
	}
	var seccomp json.RawMessage
	if spec.runtimeDefaultSeccomp {
		if seccomp, err = c.seccompProfile(ctx, base, spec.caps); err != nil {
			return nil, err
		}
	}
	runtimeSpec, err := buildRuntimeSpec(base, img.Config, spec, rootfs, seccomp)
	if err != nil {
		return nil, err
	}
	specPath := filepath.Join(c.opts.Dir, "specs", spec.id+".json")
	if err := os.MkdirAll(filepath.Dir(specPath), 0o755); err != nil {
		return nil, fmt.Errorf("create containerd spec directory: %w", err)
	}
	if err := os.WriteFile(specPath, runtimeSpec, 0o644); err != nil {
		return nil, fmt.Errorf("write runtime spec of %s: %w", spec.id, err)
	}
	argv := append(c.ctrArgv(), "run", "--rm", "--config", specPath, spec.id)
	// ctr is only the daemon's client: it runs where the lab does.
	p, err := startProcess("container "+spec.id, "", logPath, argv, startOptions{})
	if err != nil {
		return nil, err
	}
	go func() {
		<-p.done
		_, _ = c.ctr(context.WithoutCancel(ctx), "snapshots", "--snapshotter", containerdSnapshotter, "rm", spec.id)
		_ = os.Remove(specPath)
	}()
	return p, nil
}

// defaultSpec is `ctr oci spec`, read once.
func (c *Containerd) defaultSpec(ctx context.Context) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.spec != nil {
		return c.spec, nil
	}
	out, err := c.ctr(ctx, "oci", "spec")
	if err != nil {
		return nil, fmt.Errorf("read containerd's default runtime spec: %w", err)
	}
	c.spec = out
	return out, nil
}

// seccompProfile is containerd's default seccomp profile for a process with exactly caps:
// the profile the CRI plugin gives RuntimeDefault, which allows a syscall such as setns only
// with the capability it needs. ctr builds it into the spec of a container it creates with
// --seccomp (on an empty root filesystem, never started), whence it is read, once per set.
func (c *Containerd) seccompProfile(ctx context.Context, base []byte, caps []string) (json.RawMessage, error) {
	var def struct {
		Process struct {
			Capabilities struct {
				Bounding []string `json:"bounding"`
			} `json:"capabilities"`
		} `json:"process"`
	}
	if err := json.Unmarshal(base, &def); err != nil {
		return nil, fmt.Errorf("decode containerd's default runtime spec: %w", err)
	}
	key := strings.Join(caps, ",")
	c.seccompMu.Lock()
	defer c.seccompMu.Unlock()
	if p, ok := c.seccomp[key]; ok {
		return p, nil
	}
	sum := sha256.Sum256([]byte(key))
	id := "seccomp-" + hex.EncodeToString(sum[:6])
	empty := filepath.Join(c.opts.Dir, "empty-rootfs")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		return nil, fmt.Errorf("create an empty root filesystem: %w", err)
	}
	args := []string{"containers", "create", "--rootfs", "--seccomp"}
	for _, cp := range def.Process.Capabilities.Bounding {
		if !slices.Contains(caps, cp) {
			args = append(args, "--cap-drop", cp)
		}
	}
	for _, cp := range caps {
		if !slices.Contains(def.Process.Capabilities.Bounding, cp) {
			args = append(args, "--cap-add", cp)
		}
	}
	if _, err := c.ctr(ctx, append(args, empty, id)...); err != nil {
		return nil, fmt.Errorf("build the default seccomp profile: %w", err)
	}
	out, err := c.ctr(ctx, "containers", "info", id)
	_, _ = c.ctr(context.WithoutCancel(ctx), "containers", "delete", id)
	if err != nil {
		return nil, fmt.Errorf("read the default seccomp profile: %w", err)
	}
	var info struct {
		Spec struct {
			Linux struct {
				Seccomp json.RawMessage `json:"seccomp"`
			} `json:"linux"`
		} `json:"Spec"`
	}
	if err := json.Unmarshal(out, &info); err != nil || info.Spec.Linux.Seccomp == nil {
		return nil, fmt.Errorf("read the default seccomp profile: none in the spec (%v)", err)
	}
	if c.seccomp == nil {
		c.seccomp = map[string]json.RawMessage{}
	}
	c.seccomp[key] = info.Spec.Linux.Seccomp
	return info.Spec.Linux.Seccomp, nil
}

// prepareSnapshot makes the writable snapshot key of the image layers chain and returns the
// directory that holds it: the native snapshotter's mount is a bind of that directory.
func (c *Containerd) prepareSnapshot(ctx context.Context, key, chain string) (string, error) {
	snap := []string{"snapshots", "--snapshotter", containerdSnapshotter}
	if _, err := c.ctr(ctx, append(snap, "prepare", key, chain)...); err != nil {
		return "", fmt.Errorf("prepare the root filesystem of %s: %w", key, err)
	}
	out, err := c.ctr(ctx, append(snap, "mounts", "/rootfs", key)...)
	if err != nil {
		return "", fmt.Errorf("read the root filesystem of %s: %w", key, err)
	}
	// "mount -t bind <dir> /rootfs -o rbind,rw"
	f := strings.Fields(string(out))
	if len(f) < 5 || f[2] != "bind" {
		return "", fmt.Errorf("read the root filesystem of %s: unexpected mount %q", key, out)
	}
	return f[3], nil
}

// buildRuntimeSpec lays the image's config and spec over containerd's default spec, as the
// CRI plugin does for a pod's container.
func buildRuntimeSpec(base []byte, img ImageConfig, spec containerSpec, rootfs string, seccomp json.RawMessage) ([]byte, error) {
	var s map[string]any
	if err := json.Unmarshal(base, &s); err != nil {
		return nil, fmt.Errorf("decode containerd's default runtime spec: %w", err)
	}
	proc, _ := s["process"].(map[string]any)
	linux, _ := s["linux"].(map[string]any)
	if proc == nil || linux == nil {
		return nil, fmt.Errorf("containerd's default runtime spec has no process or linux section")
	}
	uid, gid, err := imageUser(img.User)
	if err != nil {
		return nil, err
	}
	if spec.uid != nil {
		uid, gid = *spec.uid, *spec.uid
	}
	if spec.gid != nil {
		gid = *spec.gid
	}
	proc["user"] = map[string]any{"uid": uid, "gid": gid}
	proc["args"] = spec.argv
	proc["env"] = append(append([]string{}, img.Env...), spec.env...)
	if img.WorkingDir != "" {
		proc["cwd"] = img.WorkingDir
	}
	caps := append([]string{}, spec.caps...)
	// A process that is not root keeps no capability through exec without ambient ones,
	// which Kubernetes never sets; bounding still limits what a setuid binary could get.
	proc["capabilities"] = map[string]any{"bounding": caps, "effective": caps, "permitted": caps}
	proc["noNewPrivileges"] = spec.noNewPrivs
	s["root"] = map[string]any{"path": rootfs, "readonly": spec.readOnlyRoot}
	if spec.hostname != "" {
		s["hostname"] = spec.hostname
	}
	mounts, _ := s["mounts"].([]any)
	for _, m := range spec.mounts {
		opts := []string{"rbind"}
		if m.readOnly {
			opts = append(opts, "ro")
		}
		if m.hostToContainer {
			opts = append(opts, "rslave")
		}
		mounts = append(mounts, map[string]any{"destination": m.dst, "type": "bind", "source": m.src, "options": opts})
	}
	s["mounts"] = mounts
	var nss []any
	for _, n := range linux["namespaces"].([]any) {
		typ := n.(map[string]any)["type"]
		switch {
		case typ == "pid" && spec.hostPID:
			continue
		case typ == "network" && spec.netns != "":
			nss = append(nss, map[string]any{"type": "network", "path": spec.netns})
		default:
			nss = append(nss, n)
		}
	}
	linux["namespaces"] = nss
	linux["cgroupsPath"] = "/" + cgroupParent + "/" + spec.id
	if seccomp != nil {
		linux["seccomp"] = seccomp
	}
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode runtime spec of %s: %w", spec.id, err)
	}
	return out, nil
}

// imageUser reads an image config's numeric User ("65532:65532", "0", ""). Names would need
// the image's /etc/passwd; the lab's images use numbers.
func imageUser(user string) (uid, gid int64, err error) {
	if user == "" {
		return 0, 0, nil
	}
	u, g, hasGroup := strings.Cut(user, ":")
	if uid, err = strconv.ParseInt(u, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("image user %q is not numeric", user)
	}
	gid = uid
	if hasGroup {
		if gid, err = strconv.ParseInt(g, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("image group %q is not numeric", user)
		}
	}
	return uid, gid, nil
}
