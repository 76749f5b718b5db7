package lab

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ContainerdNamespace is the containerd namespace the lab's images and containers live in:
// the one the kubelet's CRI uses, so that images imported here are the ones a kubelet finds.
const ContainerdNamespace = "k8s.io"

// containerdSnapshotter keeps snapshots as plain directories: overlayfs may be unavailable on
// the filesystem the lab's directory is on, and the lab's images are few.
const containerdSnapshotter = "native"

// ContainerdOptions says where a containerd runs.
type ContainerdOptions struct {
	// Dir holds its config, root, state, socket and log. Required.
	Dir string
	// Netns is the network namespace the daemon (and the shims it starts) runs in, so that a
	// lab's Sweep finds them; a container still joins the namespace its spec names. Empty:
	// the machine's.
	Netns string
	// CRI keeps the CRI plugin, which a kubelet needs; without it the daemon serves ctr and
	// containerd clients only, and sets up no pod network of its own.
	CRI bool
	// ExtraConfig is TOML appended to the generated config (the CRI plugin's CNI directories,
	// a pause image).
	ExtraConfig string
}

// Containerd is a containerd daemon of the lab's own, run from the machine's containerd and
// runc packages, with every path of its own under ContainerdOptions.Dir.
type Containerd struct {
	opts   ContainerdOptions
	socket string
	proc   *process

	mu     sync.Mutex
	images map[string]OCIImage // by normalized reference
	spec   []byte              // `ctr oci spec`: containerd's default runtime spec

	seccompMu sync.Mutex
	seccomp   map[string]json.RawMessage // the default profile by capability set
}

// OCIImage is what the lab reads of an image in an OCI archive to run it.
type OCIImage struct {
	// Ref is the index's org.opencontainers.image.ref.name ("v0.3.0").
	Ref string
	// ChainID names the snapshot of the union of the layers: a container's root filesystem
	// starts from it.
	ChainID string
	// Layers are the paths of the layer blobs in the archive, bottom first.
	Layers []string
	Config ImageConfig
}

// ImageConfig is the part of an OCI image config a runtime reads to start a container.
type ImageConfig struct {
	User       string            `json:"User"`
	Env        []string          `json:"Env"`
	Entrypoint []string          `json:"Entrypoint"`
	Cmd        []string          `json:"Cmd"`
	WorkingDir string            `json:"WorkingDir"`
	Labels     map[string]string `json:"Labels"`
}

// StartContainerd starts containerd with its own root, state and socket under opts.Dir and
// waits until it answers.
func StartContainerd(ctx context.Context, opts ContainerdOptions) (*Containerd, error) {
	if opts.Dir == "" {
		return nil, errors.New("start containerd: no directory")
	}
	if _, err := execLookPath("containerd"); err != nil {
		return nil, fmt.Errorf("start containerd: %w (install the containerd and runc packages)", err)
	}
	c := &Containerd{opts: opts, socket: filepath.Join(opts.Dir, "containerd.sock"), images: map[string]OCIImage{}}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create containerd directory: %w", err)
	}
	cfgPath := filepath.Join(opts.Dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(c.config()), 0o644); err != nil {
		return nil, fmt.Errorf("write containerd config: %w", err)
	}
	argv := []string{"containerd", "--config", cfgPath}
	if opts.Netns != "" {
		// nsenter rather than `ip netns exec`, whose private /sys hides the cgroup
		// filesystems that runc needs.
		argv = append([]string{"nsenter", "--net=" + filepath.Join(netnsDir, opts.Netns), "--"}, argv...)
	}
	p, err := startProcess("containerd", "", filepath.Join(opts.Dir, "containerd.log"), argv, startOptions{})
	if err != nil {
		return nil, err
	}
	c.proc = p
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = waitFor(waitCtx, "containerd to answer", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("containerd exited (log %s): %w", filepath.Join(opts.Dir, "containerd.log"), errExited)
		}
		_, err := c.ctr(ctx, "version")
		return err == nil, err
	})
	if err != nil {
		return nil, errors.Join(err, c.Stop(context.WithoutCancel(ctx)))
	}
	return c, nil
}

// config is the daemon's TOML: everything under the directory, no snapshotter but the native
// one (the others probe the machine's filesystems and kernel modules).
func (c *Containerd) config() string {
	disabled := []string{`"io.containerd.snapshotter.v1.aufs"`, `"io.containerd.snapshotter.v1.btrfs"`,
		`"io.containerd.snapshotter.v1.zfs"`, `"io.containerd.snapshotter.v1.devmapper"`}
	if !c.opts.CRI {
		disabled = append(disabled, `"io.containerd.grpc.v1.cri"`)
	}
	d := c.opts.Dir
	return fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = [%s]

[grpc]
  address = %q

[ttrpc]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q
%s`, filepath.Join(d, "root"), filepath.Join(d, "state"), strings.Join(disabled, ", "),
		c.socket, c.socket+".ttrpc", filepath.Join(d, "opt"), c.opts.ExtraConfig)
}

// Dir is the daemon's directory; its log is containerd.log there.
func (c *Containerd) Dir() string { return c.opts.Dir }

// Socket is the daemon's gRPC socket (a kubelet's --container-runtime-endpoint, with unix://).
func (c *Containerd) Socket() string { return c.socket }

// ctr runs ctr against this daemon in ContainerdNamespace.
func (c *Containerd) ctr(ctx context.Context, args ...string) ([]byte, error) {
	return run(ctx, append(c.ctrArgv(), args...)...)
}

func (c *Containerd) ctrArgv() []string {
	return []string{"ctr", "--address", c.socket, "--namespace", ContainerdNamespace}
}

// Import imports an OCI archive (bin/image/netdiag.oci.tar) with `ctr images import` and
// names its image as each of names (as pods name images: "netdiag:e2e").
func (c *Containerd) Import(ctx context.Context, archive string, names ...string) error {
	img, err := ReadOCIArchive(archive)
	if err != nil {
		return err
	}
	const base = "import.netdiag.lab/image"
	if _, err := c.ctr(ctx, "images", "import", "--snapshotter", containerdSnapshotter, "--base-name", base, archive); err != nil {
		return fmt.Errorf("import %s: %w", archive, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range names {
		full := NormalizeImage(name)
		if _, err := c.ctr(ctx, "images", "tag", "--force", base+":"+img.Ref, full); err != nil {
			return fmt.Errorf("name image of %s %s: %w", archive, full, err)
		}
		c.images[full] = img
	}
	return nil
}

// NormalizeImage is an image reference as containerd stores it: "netdiag:e2e" is
// "docker.io/library/netdiag:e2e".
func NormalizeImage(name string) string {
	first, _, hasSlash := strings.Cut(name, "/")
	if !hasSlash {
		name = "docker.io/library/" + name
	} else if !strings.ContainsAny(first, ".:") && first != "localhost" {
		name = "docker.io/" + name
	}
	if !strings.Contains(name[strings.LastIndex(name, "/")+1:], ":") && !strings.Contains(name, "@") {
		name += ":latest"
	}
	return name
}

// image is the imported image called name; none on a nil daemon (a lab without one).
func (c *Containerd) image(name string) (OCIImage, bool) {
	if c == nil {
		return OCIImage{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	img, ok := c.images[NormalizeImage(name)]
	return img, ok
}

// Stop kills every container the daemon runs, removes them and their snapshots, and stops
// the daemon; the directory stays (a lab's Sweep removes it with the lab's). Safe to call on
// a daemon that failed to start.
func (c *Containerd) Stop(ctx context.Context) error {
	if c == nil || c.proc == nil {
		return nil
	}
	var errs []error
	if !c.proc.exited() {
		out, _ := c.ctr(ctx, "tasks", "ls", "-q")
		for _, id := range strings.Fields(string(out)) {
			_, _ = c.ctr(ctx, "tasks", "kill", "--signal", "SIGKILL", id)
		}
		waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for _, id := range strings.Fields(string(out)) {
			// A killed task takes a moment to be reaped before it can be deleted.
			errs = append(errs, waitFor(waitCtx, "task "+id+" to go", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
				_, err := c.ctr(ctx, "tasks", "delete", "--force", id)
				return err == nil || strings.Contains(err.Error(), "not found"), nil
			}))
		}
		out, _ = c.ctr(ctx, "containers", "ls", "-q")
		for _, id := range strings.Fields(string(out)) {
			_, _ = c.ctr(ctx, "containers", "delete", id)
		}
		for _, key := range c.activeSnapshots(ctx) {
			_, _ = c.ctr(ctx, "snapshots", "--snapshotter", containerdSnapshotter, "rm", key)
		}
	}
	c.proc.stop(5 * time.Second)
	removeCgroupParent()
	return errors.Join(errs...)
}

// removeCgroupParent removes cgroupParent from every cgroup hierarchy once it is empty; while
// another lab's containers are in it the kernel refuses, and it stays for that lab to remove.
func removeCgroupParent() {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", cgroupParent))
	for _, d := range append(dirs, filepath.Join("/sys/fs/cgroup", cgroupParent)) {
		_ = os.Remove(d)
	}
}

// activeSnapshots are the keys of the snapshots containers were given (not image layers).
func (c *Containerd) activeSnapshots(ctx context.Context) []string {
	out, err := c.ctr(ctx, "snapshots", "--snapshotter", containerdSnapshotter, "ls")
	if err != nil {
		return nil
	}
	var keys []string
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) == 3 && f[2] == "Active" {
			keys = append(keys, f[0])
		}
	}
	return keys
}

// ReadOCIArchive reads the one image of an OCI archive (as hack/build-image.sh writes it).
func ReadOCIArchive(path string) (OCIImage, error) {
	blobs, err := readArchiveJSON(path)
	if err != nil {
		return OCIImage{}, err
	}
	var index struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(blobs["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		return OCIImage{}, fmt.Errorf("read %s: index.json names %d images, want one (%v)", path, len(index.Manifests), err)
	}
	var manifest struct {
		Config struct {
			Digest string `json:"digest"`
		} `json:"config"`
		Layers []struct {
			Digest string `json:"digest"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(blobs[blobPath(index.Manifests[0].Digest)], &manifest); err != nil {
		return OCIImage{}, fmt.Errorf("read %s: manifest: %w", path, err)
	}
	var config struct {
		Config ImageConfig `json:"config"`
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(blobs[blobPath(manifest.Config.Digest)], &config); err != nil {
		return OCIImage{}, fmt.Errorf("read %s: config: %w", path, err)
	}
	img := OCIImage{Ref: index.Manifests[0].Annotations["org.opencontainers.image.ref.name"], Config: config.Config}
	if img.Ref == "" || len(config.RootFS.DiffIDs) == 0 || len(config.RootFS.DiffIDs) != len(manifest.Layers) {
		return OCIImage{}, fmt.Errorf("read %s: no ref name, or layers and diff IDs that do not match", path)
	}
	img.ChainID = chainID(config.RootFS.DiffIDs)
	for _, l := range manifest.Layers {
		img.Layers = append(img.Layers, blobPath(l.Digest))
	}
	return img, nil
}

// readArchiveJSON reads the small files of an OCI archive (index.json, manifests, configs),
// skipping the layers, by their path in the archive.
func readArchiveJSON(path string) (map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open OCI archive: %w", err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read OCI archive %s: %w", path, err)
		}
		if h.Typeflag != tar.TypeReg || h.Size > 1<<20 {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("read %s in %s: %w", h.Name, path, err)
		}
		out[strings.TrimPrefix(h.Name, "./")] = data
	}
}

func blobPath(digest string) string { return "blobs/" + strings.Replace(digest, ":", "/", 1) }

// chainID is the OCI image spec's ChainID of a stack of layers, the key containerd gives the
// snapshot of their union.
func chainID(diffIDs []string) string {
	id := diffIDs[0]
	for _, d := range diffIDs[1:] {
		sum := sha256.Sum256([]byte(id + " " + d))
		id = "sha256:" + hex.EncodeToString(sum[:])
	}
	return id
}
