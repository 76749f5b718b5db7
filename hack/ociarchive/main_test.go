package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// readTar returns every regular file of a tar by name.
func readTar(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			out[h.Name] = b
		}
	}
}

// TestArchive writes an archive twice from the same file and reads it back as `ctr images
// import` does: the index names the manifest by its tag, the manifest's config carries the
// entrypoint and user, its one layer holds the file where the image wants it, and the two
// archives are byte for byte the same.
func TestArchive(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "pause")
	if err := os.WriteFile(bin, []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	var archives [][]byte
	for i := range 2 {
		out := filepath.Join(dir, "out", string(rune('a'+i))+".tar")
		if err := write(out, "ndlab.local/pause:3.10", []string{"/pause"}, "65535:65535", []string{bin + "=/usr/bin/pause"}); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		archives = append(archives, data)
	}
	if !bytes.Equal(archives[0], archives[1]) {
		t.Error("two archives of the same files differ")
	}
	files := readTar(t, archives[0])
	var index struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %v, %d manifests", err, len(index.Manifests))
	}
	if got := index.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; got != "3.10" {
		t.Errorf("ref name = %q, want the tag 3.10", got)
	}
	blob := func(digest string) []byte { return files["blobs/sha256/"+digest[len("sha256:"):]] }
	var manifest struct {
		Config struct{ Digest string }   `json:"config"`
		Layers []struct{ Digest string } `json:"layers"`
	}
	if err := json.Unmarshal(blob(index.Manifests[0].Digest), &manifest); err != nil || len(manifest.Layers) != 1 {
		t.Fatalf("manifest: %v, %d layers", err, len(manifest.Layers))
	}
	var cfg struct {
		Config struct {
			Entrypoint []string
			User       string
		} `json:"config"`
	}
	if err := json.Unmarshal(blob(manifest.Config.Digest), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/pause" || cfg.Config.User != "65535:65535" {
		t.Errorf("config = %+v, want entrypoint /pause and user 65535:65535", cfg.Config)
	}
	layer := readTar(t, blob(manifest.Layers[0].Digest))
	if got := string(layer["usr/bin/pause"]); got != "binary" {
		t.Errorf("layer's usr/bin/pause = %q, want the file's content", got)
	}
}
