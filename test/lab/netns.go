package lab

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"

	"github.com/netdiag/netdiag/internal/netnsutil"
)

// netnsDir is where `ip netns add` mounts named namespaces, and where collectors look for them.
const netnsDir = netnsutil.Dir

// listenIn opens a listener inside the named namespace.
func listenIn(ns, network, addr string) (net.Listener, error) {
	var l net.Listener
	err := netnsutil.DoNamed(ns, func() error {
		var err error
		l, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s %s in %s: %w", network, addr, ns, err)
	}
	return l, nil
}

// listenPacketIn opens a packet listener inside the named namespace.
func listenPacketIn(ns, network, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := netnsutil.DoNamed(ns, func() error {
		var err error
		c, err = net.ListenPacket(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s %s in %s: %w", network, addr, ns, err)
	}
	return c, nil
}

// dialIn connects from inside the named namespace.
func dialIn(ctx context.Context, ns, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := netnsutil.DoNamed(ns, func() error {
		var err error
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// cmdError keeps a failed command's output, which is where ip and iptables say what was wrong.
func cmdError(argv []string, out []byte, err error) error {
	return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, bytes.TrimSpace(out))
}

// run executes a command in the root namespace (ip -n, iptables through ip netns exec) and
// returns its combined output.
func run(ctx context.Context, argv ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return out, cmdError(argv, out, err)
	}
	return out, nil
}

// nsExec runs a command inside the named namespace.
func nsExec(ctx context.Context, ns string, argv ...string) ([]byte, error) {
	return run(ctx, append([]string{"ip", "netns", "exec", ns}, argv...)...)
}

// execCommand builds a command with stdin.
func execCommand(ctx context.Context, argv []string, stdin string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	return cmd
}

// ipn runs `ip -n ns ...`.
func ipn(ctx context.Context, ns string, args ...string) error {
	_, err := run(ctx, append([]string{"ip", "-n", ns}, args...)...)
	return err
}

// batch runs `ip -n ns -batch -` on the given lines, one fork for many changes.
func batch(ctx context.Context, ns string, lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	cmd := exec.CommandContext(ctx, "ip", "-n", ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return cmdError(cmd.Args, out, err)
	}
	return nil
}

// addNetns makes a named network namespace that starts from the kernel's own sysctl
// defaults, not from the root namespace's (which the kernel copies into every new one), so
// that a lab's nodes and pods behave alike on every machine.
func addNetns(ctx context.Context, name string) error {
	if _, err := run(ctx, "ip", "netns", "add", name); err != nil {
		return err
	}
	return netnsutil.ResetSysctls(netnsutil.Path(name))
}

// sysctl sets net sysctls ("net/ipv4/ip_forward", "1", ...) inside a namespace. /proc/sys/net
// resolves against the opening thread's namespace, so the write happens on a switched thread.
func sysctl(ns string, kv ...string) error {
	return netnsutil.DoNamed(ns, func() error {
		for i := 0; i+1 < len(kv); i += 2 {
			path := "/proc/sys/" + kv[i]
			if err := os.WriteFile(path, []byte(kv[i+1]), 0o644); err != nil {
				return fmt.Errorf("set %s=%s in %s: %w", kv[i], kv[i+1], ns, err)
			}
		}
		return nil
	})
}

// namespaces lists the named network namespaces whose names start with prefix.
func namespaces(ctx context.Context, prefix string) ([]string, error) {
	out, err := run(ctx, "ip", "netns", "list")
	if err != nil {
		return nil, err
	}
	var names []string
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			names = append(names, f[0])
		}
	}
	return names, nil
}
