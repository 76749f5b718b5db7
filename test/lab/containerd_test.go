package lab

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"
)

// startContainerdForTest starts a containerd in a temporary directory with the image that
// `make image` builds imported as "netdiag:test", and stops it at the end of the test.
func startContainerdForTest(t *testing.T) *Containerd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("containerd needs root")
	}
	for _, bin := range []string{"containerd", "ctr", "runc", "containerd-shim-runc-v2"} {
		if _, err := execLookPath(bin); err != nil {
			t.Skipf("%s is not installed (hack/install-deps.sh installs it): %v", bin, err)
		}
	}
	bin, err := FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(bin, "image", "netdiag.oci.tar")
	if _, err := os.Stat(archive); err != nil {
		t.Skipf("no image archive (make image builds it): %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, err := StartContainerd(ctx, ContainerdOptions{Dir: filepath.Join(t.TempDir(), "containerd")})
	if err != nil {
		t.Fatalf("StartContainerd: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
		if !c.proc.exited() {
			t.Error("containerd still runs after Stop")
		}
		for _, id := range []string{"image-user", "collector", "no-sys-admin", "entrypoint"} {
			if left, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", cgroupParent, id)); len(left) > 0 {
				t.Errorf("container %s's cgroups left after Stop: %v", id, left)
			}
		}
	})
	if err := c.Import(ctx, archive, "netdiag:test"); err != nil {
		t.Fatalf("Import: %v", err)
	}
	return c
}

// runForTest runs one container to its end and returns its exit code and output.
func runForTest(t *testing.T, c *Containerd, spec containerSpec) (int, string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), spec.id+".log")
	p, err := c.runContainer(t.Context(), spec, logPath)
	if err != nil {
		t.Fatalf("run container %s: %v", spec.id, err)
	}
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		p.stop(time.Second)
		t.Fatalf("container %s did not end in a minute", spec.id)
	}
	out, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	return p.exitCode(), string(out)
}

func TestContainerdRunsTheImageWithThePodsSettings(t *testing.T) {
	c := startContainerdForTest(t)
	if _, ok := c.image("docker.io/library/netdiag:test"); !ok {
		t.Fatal("the imported image is not known by its normalized name")
	}

	start := time.Now()
	code, out := runForTest(t, c, containerSpec{id: "image-user", image: "netdiag:test", argv: []string{"id", "-u"}})
	if code != 0 || strings.TrimSpace(out) != "65532" {
		t.Errorf("with the image's user: exit %d, output %q; want 0 and 65532 (the image's non-root user)", code, out)
	}

	t.Logf("first container ran in %s", time.Since(start).Round(time.Millisecond))
	// The collector's settings: root, four capabilities, a read-only root filesystem, the
	// runtime's default seccomp profile.
	collector := containerSpec{
		id: "collector", image: "netdiag:test", uid: ptr.To[int64](0), readOnlyRoot: true,
		caps:                  []string{"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE"},
		runtimeDefaultSeccomp: true,
		argv:                  []string{"sh", "-c", "id -u; grep -e ^CapEff -e ^Seccomp: /proc/self/status; nsenter --net=/proc/self/ns/net true && echo setns; touch /written 2>/dev/null && echo wrote"},
	}
	code, out = runForTest(t, c, collector)
	if code == 0 || strings.Contains(out, "wrote") {
		t.Errorf("a read-only root filesystem took a write: exit %d, output %q", code, out)
	}
	// NET_ADMIN 12, NET_RAW 13, SYS_PTRACE 19, SYS_ADMIN 21.
	// Seccomp mode 2 is a filter.
	// setns, which the collector needs to enter pods' namespaces, passes the profile with
	// SYS_ADMIN.
	if want := "0\nCapEff:\t0000000000283000\nSeccomp:\t2\nsetns\n"; out != want {
		t.Errorf("collector settings: output %q, want %q", out, want)
	}
	// Without SYS_ADMIN setns is refused: the container keeps the capabilities its spec
	// names, not the daemon's.
	noAdmin := collector
	noAdmin.id, noAdmin.caps = "no-sys-admin", []string{"CAP_NET_ADMIN"}
	noAdmin.argv = []string{"sh", "-c", "nsenter --net=/proc/self/ns/net true 2>&1 || echo refused"}
	if _, out := runForTest(t, c, noAdmin); !strings.Contains(out, "Operation not permitted") || !strings.Contains(out, "refused") {
		t.Errorf("setns without SYS_ADMIN: output %q, want it refused", out)
	}

	code, out = runForTest(t, c, containerSpec{id: "entrypoint", image: "netdiag:test", argv: []string{"/usr/local/bin/netdiag", "version"}})
	if code != 0 || !strings.Contains(out, "Version:") {
		t.Errorf("netdiag version: exit %d, output %q", code, out)
	}
	// Each snapshot goes right after its container ends.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start = time.Now()
	err := waitFor(ctx, "the containers' snapshots to go", 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		return len(c.activeSnapshots(ctx)) == 0, nil
	})
	if err != nil {
		t.Errorf("snapshots left after their containers ended: %v", c.activeSnapshots(t.Context()))
	}
	t.Logf("snapshots gone %s after the last container", time.Since(start).Round(time.Millisecond))
}

func TestNormalizeImage(t *testing.T) {
	for in, want := range map[string]string{
		"netdiag:e2e":                 "docker.io/library/netdiag:e2e",
		"netdiag":                     "docker.io/library/netdiag:latest",
		"calico/node:v3.31.0":         "docker.io/calico/node:v3.31.0",
		"ghcr.io/flannel-io/flannel":  "ghcr.io/flannel-io/flannel:latest",
		"localhost:5000/netdiag:dev":  "localhost:5000/netdiag:dev",
		"registry.k8s.io/pause:3.10":  "registry.k8s.io/pause:3.10",
		"docker.io/library/netdiag:x": "docker.io/library/netdiag:x",
	} {
		if got := NormalizeImage(in); got != want {
			t.Errorf("NormalizeImage(%q) = %q, want %q", in, got, want)
		}
	}
}
