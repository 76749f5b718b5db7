package iptablestest

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Namespace makes an empty network namespace, prefix-<pid>, for a test that loads rules with
// the real tools and reads them back, and deletes it when the test ends. It skips the test
// without root or without the tools named.
func Namespace(t *testing.T, prefix string, tools ...string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the kernel test needs root")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the kernel test needs %s", tool)
		}
	}
	ns := fmt.Sprintf("%s-%d", prefix, os.Getpid())
	Run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	return ns
}
