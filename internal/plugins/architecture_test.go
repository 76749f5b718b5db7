package plugins

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestArchitectureNamesEveryPackage keeps docs/architecture.md's table of packages complete:
// a package under internal/ that the table does not name fails here, by name. A sub-package
// may be named as `.../name` on its parent's row. The plugins' own folders are the
// registry's, listed in docs/plugins.md.
func TestArchitectureNamesEveryPackage(t *testing.T) {
	doc, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || d.Name() == "testdata" {
			return err
		}
		files, _ := filepath.Glob(filepath.Join(path, "*.go"))
		code := false
		for _, f := range files {
			if !strings.HasSuffix(f, "_test.go") {
				code = true
			}
		}
		if !code {
			return nil
		}
		pkg := "internal" + strings.TrimPrefix(filepath.ToSlash(path), "..")
		if rest, ok := strings.CutPrefix(pkg, "internal/plugin/"); ok && rest != "hop" {
			// A plugin's folder is named by docs/plugins.md, written from the registry:
			// adding a plugin edits no page by hand.
			return nil
		}
		if !strings.Contains(text, "`"+pkg+"`") && !strings.Contains(text, "`.../"+filepath.Base(path)+"`") {
			t.Errorf("docs/architecture.md does not name %s", pkg)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
