package lab

import (
	"context"
	"fmt"
	"maps"
	"slices"
)

// criConfig is the CRI plugin's part of the node's containerd configuration: the lab's pause
// image as the sandbox, CNI from the node's /etc/cni/net.d with the lab's plugins, the
// snapshotter images are imported into, and runc with cgroupfs, as the kubelet's cgroup
// driver. OOM score adjustments are kept at or above containerd's own: the kubelet asks
// -998 for sandboxes, and lowering a score takes CAP_SYS_RESOURCE, which sandboxed machines
// like CI's do not grant (runc then fails with "can't get final child's PID from pipe").
func (r *realNode) criConfig() string {
	return fmt.Sprintf(`
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  enable_selinux = false
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = "/etc/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = %q
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %q
`, PauseImage, r.l.bin("cni"), containerdSnapshotter, r.path("runc"))
}

// startContainerd starts the node's containerd in the node's namespaces, mount namespace
// included, and imports the lab's images and Config.OCIImages.
func (r *realNode) startContainerd(ctx context.Context) error {
	c, err := StartContainerd(ctx, ContainerdOptions{
		Dir: r.path("containerd"), Netns: r.n.Netns, CRI: true, ExtraConfig: r.criConfig(), Enter: r.enter(),
	})
	if err != nil {
		return fmt.Errorf("containerd of %s: %w", r.n.Name, err)
	}
	r.containerd = c
	images := map[string]string{
		PauseImage: r.l.bin("pause/pause.oci.tar"),
		EchoImage:  r.l.bin("pause/labecho.oci.tar"),
	}
	maps.Copy(images, r.l.cfg.OCIImages)
	for _, name := range slices.Sorted(maps.Keys(images)) {
		if err := c.Import(ctx, images[name], name); err != nil {
			return fmt.Errorf("import on %s: %w", r.n.Name, err)
		}
	}
	return nil
}
