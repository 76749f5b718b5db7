package plugins_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// guide is the step-by-step guide to adding a plugin, relative to the repository's root.
const guide = "docs/adding-a-plugin.md"

// repoRoot is the repository's top directory, from this package's.
const repoRoot = "../.."

// TestGuidePaths checks that every path the guide names exists: a code span whose first
// element is an entry of the repository's top directory (internal/..., test/..., docs/...)
// is a path; one with a placeholder (<name>) is a pattern, not a path.
func TestGuidePaths(t *testing.T) {
	text := readGuide(t)
	top := topEntries(t)
	span := regexp.MustCompile("`([^`\\s]+)`")
	checked := 0
	for _, m := range span.FindAllStringSubmatch(text, -1) {
		p := m[1]
		first, _, _ := strings.Cut(p, "/")
		if !top[first] || !strings.Contains(p, "/") || strings.ContainsAny(p, "<>*") {
			continue
		}
		checked++
		if _, err := os.Stat(filepath.Join(repoRoot, p)); err != nil {
			t.Errorf("%s names %s, which does not exist", guide, p)
		}
	}
	if checked < 10 {
		t.Errorf("%s names %d paths; the walkthrough names the plugin's files, so fewer means the test no longer finds them", guide, checked)
	}
}

// TestGuideCode checks that every Go block of the guide is an excerpt, verbatim, of the file
// named on the line before it ("From `path`:"), so that what the guide shows is code that
// builds and runs.
func TestGuideCode(t *testing.T) {
	lines := strings.Split(readGuide(t), "\n")
	source := regexp.MustCompile("`([^`\\s]+\\.go)`")
	blocks := 0
	for i := 0; i < len(lines); i++ {
		if lines[i] != "```go" {
			continue
		}
		blocks++
		end := i + 1
		for end < len(lines) && lines[end] != "```" {
			end++
		}
		if end == len(lines) {
			t.Fatalf("%s:%d: a Go block that does not end", guide, i+1)
		}
		block := strings.Join(lines[i+1:end], "\n")
		from := ""
		for k := i - 1; k >= 0; k-- {
			if strings.TrimSpace(lines[k]) != "" {
				from = lines[k]
				break
			}
		}
		names := source.FindAllStringSubmatch(from, -1)
		if len(names) != 1 {
			t.Errorf("%s:%d: the line before a Go block names %d Go files, want the one it comes from: %q", guide, i+1, len(names), from)
			i = end
			continue
		}
		data, err := os.ReadFile(filepath.Join(repoRoot, names[0][1]))
		if err != nil {
			t.Errorf("%s:%d: %v", guide, i+1, err)
		} else if !strings.Contains(string(data), block+"\n") {
			t.Errorf("%s:%d: the block is not an excerpt of %s:\n%s", guide, i+1, names[0][1], block)
		}
		i = end
	}
	if blocks == 0 {
		t.Errorf("%s has no Go blocks", guide)
	}
}

func readGuide(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, guide))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func topEntries(t *testing.T) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	top := map[string]bool{}
	for _, e := range entries {
		top[e.Name()] = true
	}
	return top
}
