package netnstest

import (
	"os/exec"
	"strings"
	"testing"
)

// Run runs a command and returns its combined output, failing the test with that output
// when the command fails.
func Run(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
