package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// dirMarker marks a directory as a lab's, so Sweep never removes a directory it did not make.
const dirMarker = ".ndlab"

// Sweep removes everything a lab called name left on the machine, whether it went down
// cleanly or crashed: every process inside a namespace whose name starts with "<name>-",
// those namespaces (and with them every veth, bridge and vxlan device the lab made), and the
// lab's directory. The lab's own processes all run inside its namespaces, so the name is
// enough to find them.
func Sweep(ctx context.Context, name, dir string) error {
	prefix := name + "-"
	nss, err := namespaces(ctx, prefix)
	if err != nil {
		return fmt.Errorf("list network namespaces: %w", err)
	}
	// Pods before nodes before the underlay: CNI state goes with the pods' namespaces.
	slices.SortFunc(nss, func(a, b string) int { return sweepRank(a, prefix) - sweepRank(b, prefix) })
	var errs []error
	// A real node's containers live in namespaces of their own; their cgroups find them.
	errs = append(errs, sweepNodeCgroups(name))
	for _, ns := range nss {
		killNetnsProcesses(ctx, ns)
	}
	for _, ns := range nss {
		if _, err := run(ctx, "ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, dirMarker)); err == nil {
			errs = append(errs, os.RemoveAll(dir))
		}
	}
	return errors.Join(errs...)
}

func sweepRank(ns, prefix string) int {
	switch rest := strings.TrimPrefix(ns, prefix); {
	case strings.HasPrefix(rest, "pod-"):
		return 0
	case strings.HasPrefix(rest, "node-"):
		return 1
	case rest == "underlay":
		return 3
	default:
		return 2
	}
}

// killNetnsProcesses kills every process inside a namespace and waits, bounded, until each
// has exited. A killed process leaves the namespace's process list before it is done exiting
// (its namespaces are released early in the kernel's exit path, closing its files comes
// after), so the list going empty is not yet the processes being gone.
func killNetnsProcesses(ctx context.Context, ns string) {
	pids := func() []int {
		out, err := run(ctx, "ip", "netns", "pids", ns)
		if err != nil {
			return nil
		}
		var pids []int
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				pids = append(pids, pid)
			}
		}
		return pids
	}
	var killed []int
	for range 20 {
		left := pids()
		if len(left) == 0 {
			break
		}
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		killed = append(killed, left...)
		time.Sleep(50 * time.Millisecond)
	}
	for range 100 {
		killed = slices.DeleteFunc(killed, exited)
		if len(killed) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exited tells whether a process is gone or a zombie waiting for its parent to reap it.
func exited(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the command name, which is in parentheses and may itself hold them.
	rest := string(data[strings.LastIndexByte(string(data), ')')+1:])
	state := strings.TrimSpace(rest)
	return state == "" || state[0] == 'Z' || state[0] == 'X'
}

// markDir creates the lab directory with its marker.
func markDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create lab directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, dirMarker), nil, 0o644); err != nil {
		return fmt.Errorf("mark lab directory: %w", err)
	}
	return nil
}
