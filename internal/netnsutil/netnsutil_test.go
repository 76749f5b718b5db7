package netnsutil

import (
	"os"
	"os/exec"
	"strings"
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

// TestResetSysctls sets, in a namespace of its own, the values a host may hand every new
// namespace (forwarding on, strict rp_filter, arp_ignore, proxy_arp, route_localnet,
// accept_local) and checks that ResetSysctls brings back the kernel's defaults, for all,
// default and the interfaces already there.
func TestResetSysctls(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace")
	}
	name := "ndt-nsu-reset"
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	hostLike := map[string]string{"forwarding": "1", "rp_filter": "1", "proxy_arp": "1", "arp_ignore": "1", "accept_local": "1", "route_localnet": "1"}
	confs := []string{"all", "default", "lo"}
	read := func(key string) string {
		t.Helper()
		var v []byte
		if err := DoNamed(name, func() (err error) {
			v, err = os.ReadFile("/proc/sys/net/" + key)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(v))
	}
	if err := DoNamed(name, func() error {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
			return err
		}
		for _, c := range confs {
			for key, v := range hostLike {
				if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+c+"/"+key, []byte(v), 0o644); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := read("ipv4/conf/lo/rp_filter"); got != "1" {
		t.Fatalf("setting up: lo/rp_filter = %s, want 1", got)
	}

	if err := ResetSysctls(Path(name)); err != nil {
		t.Fatal(err)
	}
	if got := read("ipv4/ip_forward"); got != "0" {
		t.Errorf("ip_forward = %s, want 0", got)
	}
	for _, c := range confs {
		for key := range hostLike {
			if got := read("ipv4/conf/" + c + "/" + key); got != "0" {
				t.Errorf("ipv4/conf/%s/%s = %s, want the kernel's 0", c, key, got)
			}
		}
	}
}
