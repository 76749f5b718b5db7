package lab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/netdiag/netdiag/controllers"
	"github.com/netdiag/netdiag/internal/netstack"
)

func TestContainerPrivileges(t *testing.T) {
	collector := corev1.Container{SecurityContext: controllers.CollectorSecurityContext()}
	for name, tc := range map[string]struct {
		pod  corev1.PodSpec
		c    corev1.Container
		want privileges
		exec string
	}{
		"privileged": {
			c:    corev1.Container{SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}},
			want: privileges{},
			exec: `exec "$@"`,
		},
		"no securityContext gets the runtime's defaults": {
			want: privileges{restricted: true, caps: defaultCapabilities},
			exec: `exec setpriv --bounding-set=-all` + setOf(defaultCapabilities) + ` --inh-caps=-all` + setOf(defaultCapabilities) +
				` --ambient-caps=-all` + setOf(defaultCapabilities) + ` -- "$@"`,
		},
		"the collector": {
			c:    collector,
			want: privileges{restricted: true, caps: []string{"net_admin", "net_raw", "sys_admin", "sys_ptrace"}, uid: ptr.To[int64](0), readOnlyRoot: true},
			exec: `exec setpriv --bounding-set=-all,+net_admin,+net_raw,+sys_admin,+sys_ptrace --inh-caps=-all,+net_admin,+net_raw,+sys_admin,+sys_ptrace ` +
				`--ambient-caps=-all,+net_admin,+net_raw,+sys_admin,+sys_ptrace -- "$@"`,
		},
		"drop one, add one, CAP_ prefix, no escalation": {
			c: corev1.Container{SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"NET_RAW", "CHOWN"}, Add: []corev1.Capability{"CAP_NET_ADMIN"}},
			}},
			want: privileges{restricted: true, noNewPrivs: true, caps: []string{
				"audit_write", "dac_override", "fowner", "fsetid", "kill", "mknod", "net_admin", "net_bind_service",
				"setfcap", "setgid", "setpcap", "setuid", "sys_chroot",
			}},
		},
		"a non-root user keeps its capabilities in the bounding set only": {
			pod: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](65532), RunAsGroup: ptr.To[int64](65532)}},
			c: corev1.Container{SecurityContext: &corev1.SecurityContext{
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"NET_RAW"}},
			}},
			want: privileges{restricted: true, caps: []string{"net_raw"}, uid: ptr.To[int64](65532), gid: ptr.To[int64](65532)},
			exec: `exec setpriv --reuid=65532 --regid=65532 --clear-groups --bounding-set=-all,+net_raw -- "$@"`,
		},
		"a word that is no capability does not reach the shell": {
			c: corev1.Container{SecurityContext: &corev1.SecurityContext{
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"NET_RAW; reboot"}},
			}},
			want: privileges{restricted: true},
			exec: `exec setpriv --bounding-set=-all --inh-caps=-all --ambient-caps=-all -- "$@"`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			got := containerPrivileges(&corev1.Pod{Spec: tc.pod}, tc.c)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(privileges{}), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("containerPrivileges (-want +got):\n%s", diff)
			}
			if tc.exec == "" {
				return
			}
			if diff := cmp.Diff(tc.exec, got.execStep()); diff != "" {
				t.Errorf("execStep (-want +got):\n%s", diff)
			}
		})
	}
}

func setOf(caps []string) string {
	return ",+" + strings.Join(caps, ",+")
}

// TestCollectorCapabilities runs `netdiag collect` on a lab node twice, as full root and as
// the collector pod's securityContext leaves it (what the kubelet stand-in runs every
// collector pod with), and checks that the process holds exactly the collector's
// capabilities, that the root filesystem is read-only to it, and that both snapshots,
// probe included, are the same but for the moments they were taken.
func TestCollectorCapabilities(t *testing.T) {
	l := upForTest(t, "ndlabp", ModeFlannelVXLAN, ProxyNFTables)
	pods, _ := shop(t, l)
	ctx := t.Context()

	bin := filepath.Join(t.TempDir(), "netdiag")
	bindir, err := FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir = filepath.Dir(bindir)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build netdiag: %v\n%s", err, out)
	}

	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{SecurityContext: controllers.CollectorSecurityContext()}}}}
	collector := containerPrivileges(pod, pod.Spec.Containers[0])
	node := l.Nodes()[0]
	command := func(priv privileges, argv ...string) *exec.Cmd {
		full := netnsCommand(node.Netns, argv[0], argv, startOptions{shell: priv.shell(false)})
		return exec.CommandContext(ctx, full[0], full[1:]...)
	}
	run := func(t *testing.T, priv privileges, argv ...string) []byte {
		t.Helper()
		cmd := command(priv, argv...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, stderr.Bytes())
		}
		return out
	}

	t.Run("the process holds exactly the collector's capabilities", func(t *testing.T) {
		var want uint64
		for _, c := range []uint{unix.CAP_NET_ADMIN, unix.CAP_NET_RAW, unix.CAP_SYS_ADMIN, unix.CAP_SYS_PTRACE} {
			want |= 1 << c
		}
		status := string(run(t, collector, "cat", "/proc/self/status"))
		for _, set := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
			m := regexp.MustCompile(`(?m)^` + set + `:\s+([0-9a-f]+)$`).FindStringSubmatch(status)
			if m == nil {
				t.Fatalf("no %s in /proc/self/status:\n%s", set, status)
			}
			got, err := strconv.ParseUint(m[1], 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s = %#x, want %#x", set, got, want)
			}
		}
		if out, err := command(collector, "touch", "/ndlab-ro").CombinedOutput(); err == nil {
			_ = os.Remove("/ndlab-ro")
			t.Errorf("the collector wrote to the read-only root filesystem: %s", out)
		}
	})

	t.Run("the snapshot is the one full root takes", func(t *testing.T) {
		var self, other *corev1.Pod
		for _, p := range pods {
			if p.Spec.NodeName == node.Name {
				self = p
			} else if other == nil {
				other = p
			}
		}
		args := []string{bin, "collect", "--node", node.Name, "--output", "-",
			"--pod", fmt.Sprintf("%s/%s=%s", self.Namespace, self.Name, self.Status.PodIP),
			"--probe-from", "pod:" + self.Namespace + "/" + self.Name, "--probe-to", other.Status.PodIP, "--probe-protocol", "ICMP"}
		// The first probe fills the neighbour tables and conntrack; the two that count find
		// them filled.
		run(t, privileges{}, args...)
		asRoot := decodeSnapshot(t, run(t, privileges{}, args...))
		withCaps := decodeSnapshot(t, run(t, collector, args...))
		if withCaps.Probe == nil || !withCaps.Probe.Reachable {
			t.Errorf("probe with the collector's capabilities: %+v, want reachable", withCaps.Probe)
		}
		for _, s := range []*netstack.NodeSnapshot{asRoot, withCaps} {
			for _, ns := range append([]netstack.Netstack{s.Host}, s.Pods...) {
				if len(ns.Errors) > 0 {
					t.Errorf("part errors in namespace %q: %+v", ns.NetNS, ns.Errors)
				}
			}
		}
		if diff := cmp.Diff(asRoot, withCaps, volatile...); diff != "" {
			t.Errorf("snapshot (-as root +with the collector's capabilities):\n%s", diff)
		}
	})

	t.Run("a pod found only through another user's process", func(t *testing.T) {
		var self *corev1.Pod
		for _, p := range pods {
			if p.Spec.NodeName == node.Name {
				self = p
			}
		}
		podNetns, ok := l.PodNetns(self.Namespace, self.Name)
		if !ok {
			t.Fatalf("no namespace for pod %s/%s", self.Namespace, self.Name)
		}
		// A runtime that mounts no namespace where the collector looks: the pod's namespace
		// is reached only through /proc/<pid>/ns/net of its process, which runs as another
		// user, as a container's does.
		sleeper := exec.CommandContext(ctx, "ip", "netns", "exec", podNetns, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sleep", "60")
		sleeper.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := sleeper.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = sleeper.Process.Kill()
			_ = sleeper.Wait()
		})
		snap := decodeSnapshot(t, run(t, collector, bin, "collect", "--node", node.Name, "--output", "-", "--netns-dirs", "/nonexistent",
			"--pod", fmt.Sprintf("%s/%s=%s", self.Namespace, self.Name, self.Status.PodIP)))
		if len(snap.Pods) != 1 || len(snap.Pods[0].Errors) > 0 || !strings.HasPrefix(snap.Pods[0].NetNS, "/proc/") {
			t.Errorf("pod collected with the collector's capabilities: %+v, want it found under /proc without errors", snap.Pods)
		}
	})
}

// volatile leaves out what two collections a moment apart differ in on an idle node: when
// they ran, the time iptables-save prints, the packet counters, the count of conntrack
// entries and where a valid neighbour entry is in its aging. The rulesets' digests are of
// their raw text, time stamp and counters included, so they are left out too: the texts
// themselves are compared without those.
var volatile = []cmp.Option{
	cmp.FilterPath(func(p cmp.Path) bool {
		k, ok := p.Last().(cmp.MapIndex)
		return ok && k.Key().String() == "netfilter/nf_conntrack_count"
	}, cmp.Ignore()),
	cmp.Transformer("aging", func(n netstack.Neighbour) netstack.Neighbour {
		switch n.State {
		case "REACHABLE", "STALE", "DELAY", "PROBE":
			n.State = "valid"
		}
		return n
	}),
	cmpopts.IgnoreFields(netstack.NodeSnapshot{}, "CollectedAt"),
	cmpopts.IgnoreFields(netstack.Netstack{}, "Digests"),
	cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}, netip.AddrPort{}),
	cmpopts.IgnoreUnexported(netstack.Netstack{}),
	cmp.FilterPath(func(p cmp.Path) bool {
		f, ok := p.Last().(cmp.StructField)
		return ok && (f.Name() == "IPTables" || f.Name() == "NFTables")
	}, cmp.Transformer("stable", func(s string) string {
		s = iptablesStamp.ReplaceAllString(s, "")
		return counters.ReplaceAllString(s, "[0:0]")
	})),
}

var (
	iptablesStamp = regexp.MustCompile(`(?m)^# (Generated by|Completed on) .*$`)
	counters      = regexp.MustCompile(`\[\d+:\d+\]`)
)

func decodeSnapshot(t *testing.T, data []byte) *netstack.NodeSnapshot {
	t.Helper()
	var s netstack.NodeSnapshot
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("decode snapshot: %v\n%.2000s", err, data)
	}
	return &s
}
