package bundle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteRefusesAFullFolder keeps a bundle from mixing with the files of another.
func TestWriteRefusesAFullFolder(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "node-9.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, &Bundle{}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("Write into a folder holding node-9.json: %v", err)
	}
}
