package lab

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// upForTest brings a lab up for one test and takes it down (and checks it left nothing) at
// the end, also when the test fails.
func upForTest(t *testing.T, name string, mode Mode, proxy ProxyMode, opts ...func(*Config)) *Lab {
	t.Helper()
	if err := Check("", mode); err != nil {
		t.Skipf("lab cannot run here: %v", err)
	}
	cfg := Config{Name: name, Mode: mode, ProxyMode: proxy, Dir: t.TempDir() + "/" + name, Log: testr.New(t)}
	for _, o := range opts {
		o(&cfg)
	}
	if err := CheckNodes("", cfg.NodeKind); err != nil {
		t.Skipf("lab cannot run here: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	bin, err := FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	// kubectl stands for a collector: a client that must find the API server from inside a
	// hostNetwork pod with nothing but what the kubelet gives it.
	cfg.Images = map[string]string{"kubectl:test": bin + "/k8s/current/kubectl"}
	l, err := Up(ctx, cfg)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Logf("lab %s (%s, kube-proxy %s) up in %s", name, mode, proxy, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, l)
		}
		if err := l.Down(context.Background()); err != nil {
			t.Errorf("Down: %v", err)
		}
		left, err := namespaces(context.Background(), name+"-")
		if err != nil {
			t.Errorf("list namespaces: %v", err)
		}
		if len(left) > 0 {
			t.Errorf("Down left namespaces behind: %v", left)
		}
		if cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/" + name + "-*"); len(cgroups) > 0 {
			t.Errorf("Down left cgroups behind: %v", cgroups)
		}
	})
	return l
}

func dumpLogs(t *testing.T, l *Lab) {
	entries, _ := os.ReadDir(l.cfg.Dir + "/logs")
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, _ := os.ReadFile(l.cfg.Dir + "/logs/" + e.Name())
		if len(data) > 3000 {
			data = data[len(data)-3000:]
		}
		t.Logf("--- %s (tail)\n%s", e.Name(), data)
	}
}

// shop creates, through the API, a namespace with a pod on each node serving TCP and UDP
// 8080, and a Service in front of them, and waits for the pods to run.
func shop(t *testing.T, l *Lab) (pods []*corev1.Pod, svc *corev1.Service) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	c := l.Client()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	svc, err := c.CoreV1().Services("shop").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP},
				{Name: "dns", Port: 53, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolUDP},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service: %v", err)
	}
	for _, n := range l.Nodes() {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web-" + n.Name, Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{
				NodeSelector: map[string]string{"kubernetes.io/hostname": n.Name},
				Containers: []corev1.Container{l.WorkloadContainer("web", "web:1", []corev1.ContainerPort{
					{ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
					{ContainerPort: 8080, Protocol: corev1.ProtocolUDP},
				})},
			},
		}
		// The default service account appears shortly after the namespace; admission needs it.
		err := waitFor(ctx, "create pod", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
			_, err := c.CoreV1().Pods("shop").Create(ctx, pod, metav1.CreateOptions{})
			return err == nil, err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range l.Nodes() {
		pod, err := l.WaitPodRunning(ctx, "shop", "web-"+n.Name)
		if err != nil {
			t.Fatal(err)
		}
		if pod.Spec.NodeName != n.Name {
			t.Fatalf("pod %s runs on %s, want %s", pod.Name, pod.Spec.NodeName, n.Name)
		}
		if !n.PodCIDR.Contains(netip.MustParseAddr(pod.Status.PodIP)) {
			t.Fatalf("pod %s has IP %s outside its node's pod CIDR %s", pod.Name, pod.Status.PodIP, n.PodCIDR)
		}
		pods = append(pods, pod)
	}
	return pods, svc
}

// probeAll probes every case and reports each that did not end as wanted.
func probeAll(t *testing.T, cases map[string]struct {
	spec ProbeSpec
	want bool
}) {
	t.Helper()
	for name, tc := range cases {
		// kube-proxy and flannel program asynchronously; a healthy path may need a moment
		// after the objects appear, a broken one never heals.
		var got ProbeResult
		deadline := time.Now().Add(15 * time.Second)
		for {
			got = Probe(t.Context(), tc.spec)
			if got.Reachable == tc.want || !tc.want || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if got.Reachable != tc.want {
			t.Errorf("%s: %s %s -> %s: got %s, want reachable=%v", name, tc.spec.Protocol, tc.spec.From, tc.spec.To, got, tc.want)
		} else {
			t.Logf("%s: %s", name, got)
		}
	}
}

func dataPlaneCases(t *testing.T, l *Lab, pods []*corev1.Pod, svc *corev1.Service) map[string]struct {
	spec ProbeSpec
	want bool
} {
	src, ok := l.PodNetns("shop", pods[0].Name)
	if !ok {
		t.Fatalf("no namespace for pod %s", pods[0].Name)
	}
	remote := netip.MustParseAddr(pods[1].Status.PodIP)
	local := netip.MustParseAddr(pods[0].Status.PodIP)
	clusterIP := netip.MustParseAddr(svc.Spec.ClusterIP)
	ext := l.External()
	node2 := l.Nodes()[1]
	type pc = struct {
		spec ProbeSpec
		want bool
	}
	return map[string]pc{
		"pod to pod across nodes, TCP":   {ProbeSpec{From: src, To: netip.AddrPortFrom(remote, 8080), Protocol: TCP}, true},
		"pod to pod across nodes, UDP":   {ProbeSpec{From: src, To: netip.AddrPortFrom(remote, 8080), Protocol: UDP}, true},
		"pod to pod across nodes, ICMP":  {ProbeSpec{From: src, To: netip.AddrPortFrom(remote, 0), Protocol: ICMP}, true},
		"pod to itself":                  {ProbeSpec{From: src, To: netip.AddrPortFrom(local, 8080), Protocol: TCP}, true},
		"pod to ClusterIP, TCP":          {ProbeSpec{From: src, To: netip.AddrPortFrom(clusterIP, 80), Protocol: TCP}, true},
		"pod to ClusterIP, UDP":          {ProbeSpec{From: src, To: netip.AddrPortFrom(clusterIP, 53), Protocol: UDP}, true},
		"pod to a port nobody serves":    {ProbeSpec{From: src, To: netip.AddrPortFrom(remote, 9999), Protocol: TCP}, false},
		"pod to ClusterIP on a bad port": {ProbeSpec{From: src, To: netip.AddrPortFrom(clusterIP, 81), Protocol: TCP, Timeout: 500 * time.Millisecond}, false},
		"pod to external host":           {ProbeSpec{From: src, To: netip.AddrPortFrom(ext.InternetIP, 443), Protocol: TCP}, true},
		"node to remote pod":             {ProbeSpec{From: node2.Netns, To: netip.AddrPortFrom(local, 8080), Protocol: TCP}, true},
		"pod to the API server":          {ProbeSpec{From: src, To: netip.AddrPortFrom(kubernetesSvcIP, 443), Protocol: TCP, Payload: -1}, true},
	}
}

func TestFlannelVXLAN(t *testing.T) {
	l := upForTest(t, "ndlabt", ModeFlannelVXLAN, ProxyIPTables)
	pods, svc := shop(t, l)
	probeAll(t, dataPlaneCases(t, l, pods, svc))

	// What flannel laid is what flannel lays: the vxlan device, and a permanent fdb entry
	// per peer pointing at the peer's underlay address.
	n1, n2 := l.Nodes()[0], l.Nodes()[1]
	out, err := l.Exec(t.Context(), n1.Netns, "ip", "-d", "link", "show", "flannel.1")
	if err != nil || !containsAll(string(out), "vxlan id 1 ", "dstport 8472") {
		t.Errorf("flannel.1 on %s: %v\n%s", n1.Name, err, out)
	}
	out, err = l.Exec(t.Context(), n1.Netns, "bridge", "fdb", "show", "dev", "flannel.1")
	if err != nil || !strings.Contains(string(out), "dst "+n2.IP.String()) {
		t.Errorf("flannel.1 fdb on %s has no entry for %s: %v\n%s", n1.Name, n2.Name, err, out)
	}

	// The lab is the truth for faults too: with the fdb entry gone, the path breaks.
	if _, err := l.Exec(t.Context(), n1.Netns, "ip", "neigh", "flush", "dev", "flannel.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Exec(t.Context(), n1.Netns, "bridge", "fdb", "flush", "dev", "flannel.1"); err != nil {
		t.Fatal(err)
	}
	src, _ := l.PodNetns("shop", pods[0].Name)
	got := Probe(t.Context(), ProbeSpec{From: src, To: netip.AddrPortFrom(netip.MustParseAddr(pods[1].Status.PodIP), 8080), Protocol: TCP, Timeout: time.Second})
	if got.Reachable {
		t.Errorf("pod to pod across nodes with flannel.1's fdb flushed: got %s, want unreachable", got)
	}

	// Deleting a pod tears its namespace down.
	ns, _ := l.PodNetns("shop", pods[1].Name)
	if err := l.Client().CoreV1().Pods("shop").Delete(t.Context(), pods[1].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = waitFor(t.Context(), "pod namespace removal", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		left, err := namespaces(ctx, ns)
		return len(left) == 0, err
	})
	if err != nil {
		t.Error(err)
	}
}

func TestModes(t *testing.T) {
	for name, tc := range map[string]struct {
		mode  Mode
		proxy ProxyMode
	}{
		"flannel host-gw, nftables": {ModeFlannelHostGW, ProxyNFTables},
		"calico routed, iptables":   {ModeCalicoRouted, ProxyIPTables},
		"calico vxlan, nftables":    {ModeCalicoVXLAN, ProxyNFTables},
		"kindnet, iptables":         {ModeKindnet, ProxyIPTables},
	} {
		t.Run(name, func(t *testing.T) {
			l := upForTest(t, "ndlabm", tc.mode, tc.proxy)
			pods, svc := shop(t, l)
			probeAll(t, dataPlaneCases(t, l, pods, svc))
		})
	}
}

// TestHostNetworkCommand runs a hostNetwork pod's command in its node's namespace, as the
// collector runs: the service account token mounted where in-cluster clients look, the
// kubernetes Service reached through kube-proxy, the downward API resolved, and the exit
// reported as the pod's phase.
func TestHostNetworkCommand(t *testing.T) {
	l := upForTest(t, "ndlabh", ModeFlannelVXLAN, ProxyIPTables)
	ctx := t.Context()
	c := l.Client()
	if _, err := c.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "default-view"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "default", Namespace: "default"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// "view" does not cover nodes; a node reader role does.
	if _, err := c.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "node-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "default-node-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "node-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "default", Namespace: "default"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		node  string
		args  []string
		phase corev1.PodPhase
	}{
		"reads its own node": {"node-2", []string{"get", "node", "$(NODE_NAME)", "-o", "name"}, corev1.PodSucceeded},
		"fails":              {"node-1", []string{"get", "node", "no-such-node"}, corev1.PodFailed},
	} {
		t.Run(name, func(t *testing.T) {
			podName := strings.ReplaceAll(name, " ", "-")
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: podName, Namespace: "default"},
				Spec: corev1.PodSpec{
					NodeName: tc.node, HostNetwork: true, RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{
						Name: "kubectl", Image: "kubectl:test", Command: []string{"/kubectl"}, Args: tc.args,
						Env: []corev1.EnvVar{{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{
							FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}},
					}},
				},
			}
			err := waitFor(ctx, "create pod", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
				_, err := c.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
				return err == nil, err
			})
			if err != nil {
				t.Fatal(err)
			}
			var got *corev1.Pod
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			err = waitFor(wctx, "pod to finish", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
				got, err = c.CoreV1().Pods("default").Get(ctx, podName, metav1.GetOptions{})
				return err == nil && (got.Status.Phase == corev1.PodSucceeded || got.Status.Phase == corev1.PodFailed), err
			})
			logs, _ := os.ReadFile(l.Config().Dir + "/logs/pods/default_" + podName + "_kubectl.log")
			if err != nil {
				t.Fatalf("%v\nlog:\n%s", err, logs)
			}
			if got.Status.Phase != tc.phase {
				t.Errorf("phase %s, want %s; log:\n%s", got.Status.Phase, tc.phase, logs)
			}
			if tc.phase == corev1.PodSucceeded && strings.TrimSpace(string(logs)) != "node/"+tc.node {
				t.Errorf("log %q, want node/%s", logs, tc.node)
			}
			if term := got.Status.ContainerStatuses[0].State.Terminated; term == nil || (term.ExitCode == 0) != (tc.phase == corev1.PodSucceeded) {
				t.Errorf("container state %+v, want terminated matching phase %s", got.Status.ContainerStatuses[0].State, tc.phase)
			}
		})
	}
}

// TestSweepAfterCrash removes what a lab left when its process never got to Down: the
// processes in its namespaces, the namespaces, its directory.
func TestSweepAfterCrash(t *testing.T) {
	l := upForTest(t, "ndlabs", ModeCalicoRouted, ProxyIPTables)
	var pids []int
	for _, p := range l.procs.procs {
		pids = append(pids, p.cmd.Process.Pid)
	}
	if err := Sweep(t.Context(), "ndlabs", l.Config().Dir); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	left, err := namespaces(t.Context(), "ndlabs-")
	if err != nil || len(left) > 0 {
		t.Errorf("namespaces left after Sweep: %v %v", left, err)
	}
	if _, err := os.Stat(l.Config().Dir); !os.IsNotExist(err) {
		t.Errorf("lab directory left after Sweep: %v", err)
	}
	for _, pid := range pids {
		if !exited(pid) {
			t.Errorf("process %d still runs after Sweep", pid)
		}
	}
}

// BenchmarkUp measures bringing a 2-node flannel vxlan lab up (and down again).
func BenchmarkUp(b *testing.B) {
	if err := Check("", ModeFlannelVXLAN); err != nil {
		b.Skipf("lab cannot run here: %v", err)
	}
	dir := b.TempDir()
	for b.Loop() {
		l, err := Up(b.Context(), Config{Name: "ndlabb", Dir: dir + "/ndlabb"})
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Down(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
