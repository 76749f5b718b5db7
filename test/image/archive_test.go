package image

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netdiag/netdiag/test/lab"
)

// archivePath is what `make image` builds.
func archivePath(t *testing.T) string {
	t.Helper()
	path := filepath.Join(repoRoot(t), "bin", "image", "netdiag.oci.tar")
	if _, err := os.Stat(path); err != nil {
		// CI builds it: `make test` depends on `make image`.
		t.Skipf("no image archive here (make image builds it): %v", err)
	}
	return path
}

// unpack lays the image's layers, bottom first, into a root filesystem.
func unpack(t *testing.T, archive string, img lab.OCIImage) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("unpacking the image with its owners and running its tools in a chroot needs root")
	}
	dir := t.TempDir()
	layout, rootfs := filepath.Join(dir, "layout"), filepath.Join(dir, "rootfs")
	for _, d := range []string{layout, rootfs} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("tar", "-xf", archive, "-C", layout).CombinedOutput(); err != nil {
		t.Fatalf("unpack %s: %v\n%s", archive, err, out)
	}
	for _, layer := range img.Layers {
		if out, err := exec.Command("tar", "--numeric-owner", "-xzf", filepath.Join(layout, layer), "-C", rootfs).CombinedOutput(); err != nil {
			t.Fatalf("unpack layer %s: %v\n%s", layer, err, out)
		}
	}
	return rootfs
}

// inImage runs argv inside the root filesystem, in a network namespace of its own with
// nothing in it, and returns its output.
func inImage(t *testing.T, rootfs string, argv ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"--net", "--mount", "--fork", "chroot", rootfs}, argv...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("%s in the image: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// upstream is a Debian version without its epoch and Debian revision: 1:2.3-1+b1 is 2.3.
func upstream(v string) string {
	if _, after, ok := strings.Cut(v, ":"); ok {
		v = after
	}
	if i := strings.LastIndex(v, "-"); i > 0 {
		v = v[:i]
	}
	return v
}

func TestImageArchive(t *testing.T) {
	archive := archivePath(t)
	img, err := lab.ReadOCIArchive(archive)
	if err != nil {
		t.Fatal(err)
	}
	script := readRepoFile(t, "hack/build-image.sh")

	// The config: the entrypoint, the manager's non-root user, PATH for the collector's tools.
	if want := []string{scriptValue(t, script, "ENTRYPOINT")}; !slices.Equal(img.Config.Entrypoint, want) {
		t.Errorf("entrypoint %q, want %q", img.Config.Entrypoint, want)
	}
	if img.Config.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (non-root; the collector pod asks for root itself)", img.Config.User)
	}
	if !slices.Contains(img.Config.Env, "PATH="+scriptValue(t, script, "IMAGE_PATH")) {
		t.Errorf("env %q has no PATH: the collector pod's command \"netdiag\" and the tools it runs are found through it", img.Config.Env)
	}
	if img.Config.Labels["org.opencontainers.image.version"] == "" {
		t.Error("no org.opencontainers.image.version label")
	}

	rootfs := unpack(t, archive, img)
	pkgs := readPackageList(t)

	// Each pinned package at its pinned version, as dpkg installed it.
	for name, want := range pkgs.versions {
		got := strings.TrimSpace(inImage(t, rootfs, "dpkg-query", "-W", "-f", "${Version}", name))
		if got != want {
			t.Errorf("package %s: version %q, want %q (hack/image-packages.txt)", name, got, want)
		}
	}

	// The tools the collector runs answer, with their packages' versions.
	for _, tool := range []struct {
		argv []string
		pkg  string
	}{
		{[]string{"iptables-nft-save", "--version"}, "iptables"},
		{[]string{"iptables-legacy-save", "--version"}, "iptables"},
		{[]string{"nft", "--version"}, "nftables"},
		{[]string{"ipset", "--version"}, "ipset"},
	} {
		out := inImage(t, rootfs, tool.argv...)
		if v := upstream(pkgs.versions[tool.pkg]); !strings.Contains(out, "v"+v) {
			t.Errorf("%s: %q does not name version %s of %s", strings.Join(tool.argv, " "), out, v, tool.pkg)
		}
	}
	if out := inImage(t, rootfs, "ip", "-V"); !strings.Contains(out, upstream(pkgs.versions["iproute2"])) {
		t.Errorf("ip -V: %q does not name iproute2's version", out)
	}

	// iptables is the nft backend, as on the nodes of current distributions; the collector
	// reads both backends through their own commands and picks the one holding the rules.
	if out := inImage(t, rootfs, "iptables", "--version"); !regexp.MustCompile(`^iptables v\S+ \(nf_tables\)`).MatchString(out) {
		t.Errorf("iptables --version: %q, want the nf_tables backend", out)
	}

	// The binary is static: it runs in a root filesystem without Go's or a C library's help.
	if out := inImage(t, rootfs, scriptValue(t, script, "ENTRYPOINT"), "version"); !strings.Contains(out, "Version:") {
		t.Errorf("netdiag version in the image: %q", out)
	}

	// Nothing the collector does not run: no package manager, no conntrack.
	for _, absent := range []string{"/usr/bin/apt-get", "/usr/sbin/conntrack"} {
		if _, err := os.Lstat(filepath.Join(rootfs, absent)); err == nil {
			t.Errorf("%s is in the image", absent)
		}
	}
	if st, err := os.Stat(archive); err == nil {
		t.Logf("%s: %d MiB, %d layers", filepath.Base(archive), st.Size()>>20, len(img.Layers))
	}
}
