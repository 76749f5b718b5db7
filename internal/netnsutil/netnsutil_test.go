package netnsutil

import (
	"os"
	"os/exec"
	"testing"

	"github.com/vishvananda/netns"
)

// TestDo enters a namespace the test makes and checks that fn runs there and that the
// thread comes back to where it was.
func TestDo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace")
	}
	name := "ndt-nsu-" + t.Name()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })

	want, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	own, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()

	var inside bool
	if err := DoNamed(name, func() error {
		cur, err := netns.Get()
		if err != nil {
			return err
		}
		defer cur.Close()
		inside = cur.Equal(want)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !inside {
		t.Error("fn did not run inside the namespace")
	}
	after, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if !after.Equal(own) {
		t.Error("the thread did not come back to its own namespace")
	}
	if err := DoNamed("ndt-nsu-missing", func() error { return nil }); err == nil {
		t.Error("a missing namespace gave no error")
	}
}
