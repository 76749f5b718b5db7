// Command ociarchive writes a one-layer OCI image archive, the form `ctr images import`
// reads, from files on this machine: how hack/build-pause.sh makes the lab's pause and echo
// images without a container engine or the network. The archive is reproducible: every entry
// has the same owner and time, so the same binaries give the same digest.
//
//	ociarchive -o pause.oci.tar -name ndlab.local/pause:3.10 -entrypoint /pause -user 65535:65535 bin/pause=/pause
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

// epoch is every entry's time: the archive depends on its content only.
var epoch = time.Unix(0, 0).UTC()

type blob struct {
	digest string
	data   []byte
}

func newBlob(data []byte) blob {
	sum := sha256.Sum256(data)
	return blob{digest: "sha256:" + hex.EncodeToString(sum[:]), data: data}
}

func (b blob) descriptor(mediaType string) map[string]any {
	return map[string]any{"mediaType": mediaType, "digest": b.digest, "size": len(b.data)}
}

func main() {
	out := flag.String("o", "", "the archive to write")
	name := flag.String("name", "", "the image's name; its tag becomes the archive's ref name")
	entrypoint := flag.String("entrypoint", "", "the entrypoint, space separated")
	user := flag.String("user", "", "the default user (uid[:gid]), root when empty")
	flag.Parse()
	if *out == "" || *name == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: ociarchive -o OUT -name NAME [-entrypoint CMD] [-user UID] SRC=DEST...")
		os.Exit(2)
	}
	if err := write(*out, *name, strings.Fields(*entrypoint), *user, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "ociarchive:", err)
		os.Exit(1)
	}
}

func write(out, name string, entrypoint []string, user string, files []string) error {
	layer, err := layerTar(files)
	if err != nil {
		return err
	}
	layerBlob := newBlob(layer)
	cfg := map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      epoch.Format(time.RFC3339),
		"config": map[string]any{
			"Entrypoint": entrypoint,
			"User":       user,
			"Env":        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		},
		// The layer is stored uncompressed, so its digest is its diff ID.
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerBlob.digest}},
	}
	cfgData, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode image config: %w", err)
	}
	cfgBlob := newBlob(cfgData)
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        cfgBlob.descriptor("application/vnd.oci.image.config.v1+json"),
		"layers":        []any{layerBlob.descriptor("application/vnd.oci.image.layer.v1.tar")},
	})
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	manifestBlob := newBlob(manifest)
	desc := manifestBlob.descriptor("application/vnd.oci.image.manifest.v1+json")
	tag := name[strings.LastIndex(name, ":")+1:]
	// The tag alone, as umoci and buildah write it; `ctr images import --base-name` or a tag
	// afterwards gives the full name.
	desc["annotations"] = map[string]string{"org.opencontainers.image.ref.name": tag}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []any{desc},
	})
	if err != nil {
		return fmt.Errorf("encode index: %w", err)
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
	}
	for _, b := range []blob{layerBlob, cfgBlob, manifestBlob} {
		entries = append(entries, struct {
			name string
			data []byte
		}{"blobs/sha256/" + strings.TrimPrefix(b.digest, "sha256:"), b.data})
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch}); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
	}
	for _, e := range entries {
		if err := writeFile(tw, e.name, e.data, 0o644); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	if err := os.MkdirAll(path.Dir(out), 0o755); err != nil {
		return fmt.Errorf("create the archive's directory: %w", err)
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

// layerTar is the image's one layer: each SRC=DEST file with its parent directories.
func layerTar(files []string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	sort.Strings(files)
	for _, f := range files {
		src, dest, ok := strings.Cut(f, "=")
		if !ok || !path.IsAbs(dest) {
			return nil, fmt.Errorf("file %q: want SRC=/DEST", f)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", src, err)
		}
		var parents []string
		for d := path.Dir(dest); d != "/"; d = path.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: epoch}); err != nil {
				return nil, fmt.Errorf("write layer: %w", err)
			}
		}
		if err := writeFile(tw, strings.TrimPrefix(dest, "/"), data, 0o755); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	return buf.Bytes(), nil
}

func writeFile(tw *tar.Writer, name string, data []byte, mode int64) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch}); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
