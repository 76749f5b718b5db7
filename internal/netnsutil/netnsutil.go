package netnsutil

import (
	"fmt"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
)

// Dir is where `ip netns add` mounts named namespaces.
const Dir = "/var/run/netns"

// Path is the path of the namespace `ip netns add name` made.
func Path(name string) string { return filepath.Join(Dir, name) }

// Do runs fn on an OS thread that has joined the network namespace at path; an empty path
// runs fn in the caller's own namespace. Everything fn creates there (sockets, netlink
// sockets, child processes, the view of /proc/sys/net and /proc/thread-self/net) belongs to
// that namespace and stays there after the thread goes back. Goroutines fn starts do not:
// they run on other threads.
func Do(path string, fn func() error) error {
	runtime.LockOSThread()
	if path == "" {
		defer runtime.UnlockOSThread()
		return fn()
	}
	target, err := netns.GetFromPath(path)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer target.Close()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open own network namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace %s: %w", path, err)
	}
	fnErr := fn()
	if err := netns.Set(orig); err != nil {
		// The thread stays locked: the runtime then ends it with the goroutine instead of
		// handing a thread in the wrong namespace to other code.
		return fmt.Errorf("return from network namespace %s: %w", path, err)
	}
	runtime.UnlockOSThread()
	return fnErr
}

// DoNamed is Do for a namespace made by `ip netns add name`.
func DoNamed(name string, fn func() error) error { return Do(Path(name), fn) }
