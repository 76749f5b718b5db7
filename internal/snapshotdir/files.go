package snapshotdir

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// File is one file of a snapshot folder: its name in the folder and its content.
type File struct {
	Name string
	Data []byte
}

// Bounds on what a tarball may hold once decompressed: a tarball comes from someone else's
// cluster, and a small one may claim gigabytes.
const (
	// MaxTarballSize is the most a tarball's files may hold together.
	MaxTarballSize = 1 << 30
	// MaxTarballFiles is the most files a tarball may hold.
	MaxTarballFiles = 10000
)

// IsTarball reports whether path names a gzip-compressed tarball rather than a folder.
func IsTarball(path string) bool {
	p := strings.ToLower(path)
	return strings.HasSuffix(p, ".tar.gz") || strings.HasSuffix(p, ".tgz")
}

// Files returns the files of a snapshot folder (its regular files, not its subfolders) or
// of a tarball of one (its regular files wherever they lie in it, by their base names).
func Files(path string) ([]File, error) {
	if IsTarball(path) {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("read snapshot tarball: %w", err)
		}
		defer f.Close()
		files, err := ReadTarball(f)
		if err != nil {
			return nil, fmt.Errorf("read snapshot tarball %s: %w", path, err)
		}
		return files, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("read snapshot folder: %w", err)
	}
	var files []File
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(path, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", filepath.Join(path, e.Name()), err)
		}
		files = append(files, File{Name: e.Name(), Data: data})
	}
	return files, nil
}

// ReadTarball reads the regular files of a gzip-compressed tarball, within MaxTarballSize
// and MaxTarballFiles. Two files of the same base name are an error.
func ReadTarball(r io.Reader) ([]File, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	var files []File
	seen := map[string]bool{}
	left := int64(MaxTarballSize)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("untar: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if len(files) == MaxTarballFiles {
			return nil, fmt.Errorf("more than %d files", MaxTarballFiles)
		}
		name := path.Base(h.Name)
		if seen[name] {
			return nil, fmt.Errorf("two files named %s", name)
		}
		seen[name] = true
		if h.Size > left {
			return nil, fmt.Errorf("%s: the files hold more than %d bytes", name, MaxTarballSize)
		}
		data, err := io.ReadAll(io.LimitReader(tr, h.Size))
		if err != nil {
			return nil, fmt.Errorf("untar %s: %w", name, err)
		}
		left -= int64(len(data))
		files = append(files, File{Name: name, Data: data})
	}
}

// WriteFiles writes files into the folder dir, or into a tarball when dir ends in .tar.gz
// or .tgz.
func WriteFiles(dir string, files []File) error {
	if IsTarball(dir) {
		var buf bytes.Buffer
		if err := WriteTarball(&buf, strings.TrimSuffix(strings.TrimSuffix(filepath.Base(dir), ".tgz"), ".tar.gz"), files); err != nil {
			return err
		}
		if err := os.WriteFile(dir, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write snapshot tarball: %w", err)
		}
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("make snapshot folder: %w", err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", f.Name, err)
		}
	}
	return nil
}

// WriteTarball writes files as a gzip-compressed tarball, under the folder top so that it
// unpacks into one folder. Times are zero: the same files make the same bytes.
func WriteTarball(w io.Writer, top string, files []File) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		h := &tar.Header{Name: path.Join(top, f.Name), Mode: 0o644, Size: int64(len(f.Data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("tar %s: %w", f.Name, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return fmt.Errorf("tar %s: %w", f.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("tar: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("gzip: %w", err)
	}
	return nil
}
