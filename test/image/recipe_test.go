package image

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// repoRoot is the repository's top directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot find the test's own file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func readRepoFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), path))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// packageList is hack/image-packages.txt: the Debian suite and the pinned packages.
type packageList struct {
	suite    string
	versions map[string]string // by package
}

func readPackageList(t *testing.T) packageList {
	t.Helper()
	l := packageList{versions: map[string]string{}}
	for line := range strings.Lines(readRepoFile(t, "hack/image-packages.txt")) {
		line = strings.TrimSpace(line)
		if suite, ok := strings.CutPrefix(line, "# suite:"); ok {
			l.suite = strings.TrimSpace(suite)
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, version, ok := strings.Cut(line, "=")
		if !ok || version == "" {
			t.Fatalf("hack/image-packages.txt: %q is not pinned (want name=version)", line)
		}
		l.versions[name] = version
	}
	if l.suite == "" || len(l.versions) == 0 {
		t.Fatal("hack/image-packages.txt: no '# suite:' line or no package")
	}
	return l
}

// scriptValue is a NAME="value" assignment of hack/build-image.sh.
func scriptValue(t *testing.T, script, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `="([^"$]*)"$`).FindStringSubmatch(script)
	if m == nil {
		t.Fatalf("hack/build-image.sh sets no %s", name)
	}
	return m[1]
}

// The Dockerfile and hack/build-image.sh build the same image: the same Debian suite, the same
// package list (the file itself, not a copy of it), the same entrypoint and the same user.
func TestDockerfileAgreesWithTheBuildScript(t *testing.T) {
	docker := readRepoFile(t, "Dockerfile")
	script := readRepoFile(t, "hack/build-image.sh")
	pkgs := readPackageList(t)

	if !strings.Contains(script, `PACKAGES_FILE="${ROOT}/hack/image-packages.txt"`) {
		t.Error("hack/build-image.sh does not read hack/image-packages.txt")
	}
	var froms, copies, users, entrypoints []string
	for line := range strings.Lines(docker) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "FROM":
			froms = append(froms, f[1])
		case "COPY":
			copies = append(copies, strings.Join(f[1:], " "))
		case "USER":
			users = append(users, f[1])
		case "ENTRYPOINT":
			entrypoints = append(entrypoints, strings.TrimSpace(strings.TrimPrefix(line, "ENTRYPOINT")))
		}
	}
	if len(froms) == 0 || froms[len(froms)-1] != "debian:"+pkgs.suite+"-slim" {
		t.Errorf("the Dockerfile's final stage is FROM %v, want debian:%s-slim (hack/image-packages.txt's suite)", froms, pkgs.suite)
	}
	if !strings.Contains(strings.Join(copies, "\n"), "hack/image-packages.txt ") ||
		!strings.Contains(docker, "apt-get install -y --no-install-recommends $(grep -v '^#' /tmp/image-packages.txt)") {
		t.Error("the Dockerfile does not install exactly hack/image-packages.txt's packages")
	}
	for _, name := range []string{"iptables", "nftables", "ipset"} {
		if _, ok := pkgs.versions[name]; !ok {
			t.Errorf("hack/image-packages.txt lacks %s, which the collector runs", name)
		}
	}
	entrypoint := scriptValue(t, script, "ENTRYPOINT")
	if diff := cmp.Diff([]string{`["` + entrypoint + `"]`}, entrypoints); diff != "" {
		t.Errorf("the Dockerfile's ENTRYPOINT differs from hack/build-image.sh's (-script +Dockerfile):\n%s", diff)
	}
	if !strings.Contains(docker, "COPY --from=builder /out/netdiag "+entrypoint+"\n") {
		t.Errorf("the Dockerfile does not put the binary at the entrypoint %s", entrypoint)
	}
	if diff := cmp.Diff([]string{scriptValue(t, script, "USER_ID")}, users); diff != "" {
		t.Errorf("the Dockerfile's USER differs from hack/build-image.sh's (-script +Dockerfile):\n%s", diff)
	}
}
