package kubeproxytest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/netdiag/netdiag/internal/netnsutil/netnstest"
)

// innerEnv marks the test process that runs inside the node's namespace.
const innerEnv = "NDT_KUBEPROXYTEST_INNER"

// InNodeNamespace runs the calling top-level test again inside a fresh network namespace
// (prefix-<pid>) that plays node-a: lo up and eth0 with 172.18.0.2/24 and a default route via
// 172.18.0.1. It reports true in that inner run, which should then record, and false in the
// outer one, which has nothing left to do once the inner run has passed. The namespace is
// deleted at the end, also when the test fails; nothing is sent on any network.
func InNodeNamespace(t *testing.T, prefix string, timeout time.Duration) bool {
	t.Helper()
	if os.Getenv(innerEnv) != "" {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("recording needs root to make a network namespace")
	}
	ns := fmt.Sprintf("%s-%d", prefix, os.Getpid())
	Run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		// Some kernels have no dummy links: a veth pair whose peer stays in the namespace.
		{"link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"},
		{"link", "set", "eth0-peer", "up"},
		{"addr", "add", "172.18.0.2/24", "dev", "eth0"},
		{"link", "set", "eth0", "up"},
		{"route", "add", "default", "via", "172.18.0.1", "dev", "eth0"},
	} {
		Run(t, "ip", append([]string{"-n", ns}, args...)...)
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), innerEnv+"=1")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("record inside namespace %s: %v", ns, err)
	}
	return false
}

// Run runs a command and returns its combined output, failing the test when it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	return netnstest.Run(t, name, args...)
}

// WriteFile writes a recorded fixture, failing the test when it cannot.
func WriteFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatalf("write fixture: %v", err)
	}
}

// WaitForRules reads the rules until they contain every string of want, then once more after
// a pause, so that what it returns is the settled result of a later sync.
func WaitForRules(t testing.TB, read func() string, want []string) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		text := read()
		missing := ""
		for _, w := range want {
			if !strings.Contains(text, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			time.Sleep(2 * time.Second)
			return read()
		}
		if time.Now().After(deadline) {
			t.Fatalf("rules never named %s; last read:\n%s", missing, text)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
