package lab

import (
	"context"
	"fmt"
	"os"
	"time"
)

// containerdConfig is the node's containerd configuration (version 2, containerd 1.6): its
// own root, state and socket under the node's directory, the CRI plugin with the lab's
// pause image as the sandbox, CNI from the node's /etc/cni/net.d with the lab's plugins, and
// runc with cgroupfs, as the kubelet's cgroup driver. OOM score adjustments are kept at or
// above containerd's own: the kubelet asks -998 for sandboxes, and lowering a score takes
// CAP_SYS_RESOURCE, which sandboxed machines like CI's do not grant (runc then fails with
// "can't get final child's PID from pipe").
func (r *realNode) containerdConfig() string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  level = "info"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  enable_selinux = false
  max_container_log_line_size = 16384
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = "/etc/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, r.path("containerd", "root"), r.path("containerd", "state"), r.socket(), r.path("containerd", "ttrpc.sock"),
		PauseImage, r.l.bin("cni"), r.path("runc"), r.path("containerd", "opt"))
}

// socket is the node's containerd socket, the kubelet's runtime endpoint.
func (r *realNode) socket() string { return r.path("containerd.sock") }

func (r *realNode) startContainerd(ctx context.Context) error {
	conf := r.path("containerd.toml")
	if err := os.WriteFile(conf, []byte(r.containerdConfig()), 0o644); err != nil {
		return fmt.Errorf("write containerd configuration of %s: %w", r.n.Name, err)
	}
	name := "containerd-" + r.n.Name
	p, err := startProcess(name, r.n.Netns, r.l.logPath(name), r.enter("containerd", "--config", conf), startOptions{})
	if err != nil {
		return err
	}
	r.l.procs.add(p)
	r.containerd = p
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return waitFor(wctx, "containerd on "+r.n.Name, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("%s: %w, see %s", name, errExited, r.l.logPath(name))
		}
		_, err := r.ctr(ctx, "version")
		return err == nil, err
	})
}

// ctr runs containerd's own client against the node's containerd, in the namespace the CRI
// plugin keeps Kubernetes' images and containers in.
func (r *realNode) ctr(ctx context.Context, args ...string) ([]byte, error) {
	return run(ctx, append([]string{"ctr", "--address", r.socket(), "--namespace", "k8s.io"}, args...)...)
}

// importImage imports an OCI archive into the node's containerd, as `ctr images import` on a
// node does: a pod asking for the image with IfNotPresent then starts without a pull.
func (r *realNode) importImage(ctx context.Context, archive string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if _, err := r.ctr(ctx, "images", "import", archive); err != nil {
		return fmt.Errorf("import %s on %s: %w", archive, r.n.Name, err)
	}
	return nil
}
