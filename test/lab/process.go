package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

var execLookPath = exec.LookPath

// process is a long-running child (etcd, kube-apiserver, kube-proxy, flanneld, a collector)
// started inside a network namespace through `ip netns exec`, which also gives it a private
// mount namespace with the namespace's own /sys.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  *os.File
}

type startOptions struct {
	env []string
	// shell, when set, runs the command under `sh -c shell` with the argv as "$@": the
	// kubelet stand-in mounts a pod's service account token this way before exec.
	shell string
}

// startProcess starts argv inside ns, logging to logPath. The child gets its own process
// group (so stopping it stops what it spawned) and SIGKILL when the lab process dies, so a
// crashed lab leaves no servers behind.
func startProcess(name, ns, logPath string, argv []string, opt startOptions) (*process, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, fmt.Errorf("create log directory for %s: %w", name, err)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log for %s: %w", name, err)
	}
	full := netnsCommand(ns, name, argv, opt)
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = append(os.Environ(), opt.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{}), log: logf}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// netnsCommand is the command line that runs argv inside ns, under opt.shell when set.
func netnsCommand(ns, name string, argv []string, opt startOptions) []string {
	var full []string
	if ns != "" {
		full = []string{"ip", "netns", "exec", ns}
	}
	if opt.shell != "" {
		full = append(full, "sh", "-c", opt.shell, name)
	}
	return append(full, argv...)
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitCode is the process's exit code once it has ended (-1 when killed by a signal).
func (p *process) exitCode() int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

// stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *process) stop(grace time.Duration) {
	if p == nil || p.exited() {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
}

// processes is a set of children stopped in reverse start order.
type processes struct {
	mu    sync.Mutex
	procs []*process
}

func (ps *processes) add(p *process) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.procs = append(ps.procs, p)
}

// stopNamed stops the running process called name and forgets it; false when none runs.
func (ps *processes) stopNamed(name string, grace time.Duration) bool {
	ps.mu.Lock()
	var found *process
	for i, p := range ps.procs {
		if p.name == name && !p.exited() {
			found = p
			ps.procs = append(ps.procs[:i:i], ps.procs[i+1:]...)
			break
		}
	}
	ps.mu.Unlock()
	found.stop(grace)
	return found != nil
}

func (ps *processes) stopAll(grace time.Duration) {
	ps.mu.Lock()
	procs := ps.procs
	ps.procs = nil
	ps.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].stop(grace)
	}
}

// waitFor polls cond every interval until it returns true, returns an error, or ctx ends.
func waitFor(ctx context.Context, what string, interval time.Duration, cond func(context.Context) (bool, error)) error {
	var last error
	for {
		ok, err := cond(ctx)
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("wait for %s: %w (last error: %w)", what, ctx.Err(), last)
			}
			return fmt.Errorf("wait for %s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}

var errExited = errors.New("process exited")
