package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// podPID is a process of the pod with uid, from the pod's cgroup under its node's: the
// kubelet puts pods of each QoS class in kubepods/[burstable|besteffort]/pod<uid>.
func podPID(nodeNetns string, uid any) (int, error) {
	base := filepath.Join(cgroupMount, "pids", "/"+nodeNetns, "kubepods")
	for _, qos := range []string{"", "burstable", "besteffort"} {
		procs, _ := filepath.Glob(filepath.Join(base, qos, fmt.Sprintf("pod%v", uid), "*", "cgroup.procs"))
		for _, f := range procs {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			for _, field := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(field); err == nil {
					return pid, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("no process of pod %v in the cgroups of %s", uid, nodeNetns)
}

// cgroupMountCommands are the shell commands that mount every cgroup hierarchy of the root
// mount namespace again, at the same place and with the same options, as read from
// /proc/self/mountinfo.
func cgroupMountCommands() (string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	var b strings.Builder
	for line := range strings.Lines(string(data)) {
		pre, post, ok := strings.Cut(strings.TrimSpace(line), " - ")
		fields, after := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(after) < 3 {
			continue
		}
		target, fstype := fields[4], after[0]
		if target != cgroupMount && !strings.HasPrefix(target, cgroupMount+"/") {
			continue
		}
		opts := after[2]
		if fstype == "tmpfs" {
			opts = "mode=755"
		}
		fmt.Fprintf(&b, "mkdir -p %q\nmount -t %s -o %s %s %q\n", target, fstype, opts, fstype, target)
	}
	return b.String(), nil
}

// cgroupMount is where the machine's cgroup hierarchies are mounted.
const cgroupMount = "/sys/fs/cgroup"

// cgroupHierarchies lists the cgroup hierarchies the kubelet makes pod cgroups in: every v1
// one, and the unified one libcontainer also uses on a hybrid layout.
func cgroupHierarchies() []string {
	entries, err := os.ReadDir(cgroupMount)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		var st syscall.Statfs_t
		dir := filepath.Join(cgroupMount, e.Name())
		if syscall.Statfs(dir, &st) == nil && (st.Type == cgroupSuperMagic || st.Type == cgroup2SuperMagic) {
			out = append(out, dir)
		}
	}
	return out
}

const (
	cgroupSuperMagic  = 0x27e0eb
	cgroup2SuperMagic = 0x63677270
)

// makeCgroup creates cgroup path in every hierarchy; the kubelet wants its cgroup root to
// exist. A new cpuset cgroup has no CPUs and no memory nodes until given its parent's.
func makeCgroup(path string) error {
	for _, h := range cgroupHierarchies() {
		dir := filepath.Join(h, path)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		if filepath.Base(h) != "cpuset" {
			continue
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			data, err := os.ReadFile(filepath.Join(h, f))
			if err != nil {
				return fmt.Errorf("read %s: %w", f, err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
				return fmt.Errorf("write %s of %s: %w", f, dir, err)
			}
		}
	}
	return nil
}

// sweepNodeCgroups kills every process in the cgroups of the lab's real nodes (the pods'
// containers, which live in namespaces of their own) and removes those cgroups, deepest
// first.
func sweepNodeCgroups(name string) error {
	var errs []error
	for _, h := range cgroupHierarchies() {
		roots, _ := filepath.Glob(filepath.Join(h, name+"-node-*"))
		for _, root := range roots {
			var dirs []string
			_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					dirs = append(dirs, path)
				}
				return nil
			})
			for range 20 {
				left := 0
				for _, dir := range dirs {
					data, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
					for _, f := range strings.Fields(string(data)) {
						if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
							_ = syscall.Kill(pid, syscall.SIGKILL)
							left++
						}
					}
				}
				if left == 0 {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			for i := len(dirs) - 1; i >= 0; i-- {
				if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
					errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dirs[i], err))
				}
			}
		}
	}
	return errors.Join(errs...)
}
