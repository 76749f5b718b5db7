package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// NodeKind is what runs a lab node's pods.
type NodeKind string

const (
	// NodesStandIn registers each node itself and runs pods with the lab's kubelet stand-in:
	// a namespace per pod wired by the CNI plugins, echo servers on the container ports, and
	// the host binary of a known image for hostNetwork pods. Quick and light; no container.
	NodesStandIn NodeKind = "stand-in"
	// NodesReal runs a real kubelet and a real containerd (with runc) on each node, in the
	// node's network namespace and a mount namespace of its own: pods are real containers of
	// imported images, in sandboxes containerd wires through the node's CNI configuration.
	NodesReal NodeKind = "real"
)

// NodeKinds lists every kind of node the lab can run.
var NodeKinds = []NodeKind{NodesStandIn, NodesReal}

// Images real nodes always import (built by hack/build-pause.sh into bin/pause): the pod
// sandbox, and the echo server the lab's workloads run.
const (
	PauseImage = "ndlab.local/pause:3.10"
	EchoImage  = "ndlab.local/labecho:1"
)

// EchoArgs are the arguments that make EchoImage answer on a container's ports.
func EchoArgs(ports []corev1.ContainerPort) []string {
	var args []string
	for _, p := range ports {
		proto := strings.ToLower(string(p.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		args = append(args, strconv.Itoa(int(p.ContainerPort))+"/"+proto)
	}
	return args
}

// nodeBinds are the paths each real node sees as its own: bind mounts, in the node's mount
// namespace, of directories under the node's lab directory. The CNI configuration and state,
// the kubelet's pods and the pod logs of one node are then where a node keeps them, and no
// other node sees them.
var nodeBinds = []string{"/etc/cni/net.d", "/var/lib/cni", "/var/lib/kubelet", "/var/log/pods", "/var/log/containers"}

// realNode is one real node's daemons and the mount namespace they share.
type realNode struct {
	l *Lab
	n *Node
	// mounts holds the node's mount namespace: the kubelet and containerd enter it, so the
	// kubelet's volume mounts are what containerd gives containers.
	mounts     *process
	containerd *Containerd

	mu      sync.Mutex
	kubelet *process
	// podNetns are the pod namespaces containerd had mounted under the node's /var/run/netns
	// when the node stopped: their mount points are files on the machine's /run/netns,
	// which Down removes once the node's mount namespace is gone.
	podNetns []string
}

// rootDir is where the node's files live (containerd's root and state, the kubelet's
// directory behind /var/lib/kubelet, its configuration).
func (r *realNode) path(parts ...string) string {
	return filepath.Join(append([]string{r.n.dir, "real"}, parts...)...)
}

// cgroupRoot is the node's cgroup, under which the kubelet makes its QoS and pod cgroups;
// named after the node's namespace so that Sweep finds it after a crash.
func (r *realNode) cgroupRoot() string { return "/" + r.n.Netns }

// startRealNode starts the node's daemons: its mount namespace, containerd with the lab's
// images imported, and the kubelet, which registers the Node.
func (l *Lab) startRealNode(ctx context.Context, n *Node) error {
	r := &realNode{l: l, n: n}
	l.real = append(l.real, r)
	if err := r.startMounts(ctx); err != nil {
		return err
	}
	if err := makeCgroup(r.cgroupRoot()); err != nil {
		return err
	}
	if err := r.startContainerd(ctx); err != nil {
		return err
	}
	return r.startKubelet()
}

func (l *Lab) realNode(name string) *realNode {
	for _, r := range l.real {
		if r.n.Name == name {
			return r
		}
	}
	return nil
}

// enter is the command line that runs argv in the node's mount namespace (the network
// namespace is the node's already: every process starts through `ip netns exec`).
func (r *realNode) enter(argv ...string) []string {
	if r.mounts == nil {
		return argv
	}
	return append([]string{"nsenter", "--mount=/proc/" + strconv.Itoa(r.mounts.cmd.Process.Pid) + "/ns/mnt", "--"}, argv...)
}

// startMounts makes the node's mount namespace: `ip netns exec` gives a private one (with the
// node's /sys) whose mounts stay inside while the root namespace's still show through, and a
// process sleeping in it holds it for the node's daemons to enter. It goes, and every mount
// in it, when the node's last process ends.
func (r *realNode) startMounts(ctx context.Context) error {
	ready := r.path("mounts-ready")
	var script strings.Builder
	// Shared, as systemd makes / on a real node: the kubelet's HostToContainer and
	// Bidirectional mounts (the collector's /var/run/netns) need a shared or slave source.
	// The peer group is new and lives in this namespace only; the root namespace's mounts
	// still show through, as the slave side of what `ip netns exec` made.
	script.WriteString("set -e\nmount --make-rshared /\n")
	// `ip netns exec` mounts a fresh /sys for the node's network namespace, which hides the
	// cgroup hierarchies under it; the kubelet and runc need them back where they were.
	mounts, err := cgroupMountCommands()
	if err != nil {
		return err
	}
	script.WriteString(mounts)
	for _, dst := range nodeBinds {
		src := r.path("fs", strings.TrimPrefix(dst, "/"))
		fmt.Fprintf(&script, "mkdir -p %q %q\nmount --bind %q %q\n", src, dst, src, dst)
	}
	fmt.Fprintf(&script, "touch %q\nexec sleep infinity\n", ready)
	if err := os.MkdirAll(r.path(), 0o755); err != nil {
		return fmt.Errorf("create directory of node %s: %w", r.n.Name, err)
	}
	p, err := startProcess("mounts-"+r.n.Name, r.n.Netns, r.l.logPath("mounts-"+r.n.Name),
		[]string{"sh", "-c", script.String()}, startOptions{})
	if err != nil {
		return err
	}
	r.l.procs.add(p)
	r.mounts = p
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return waitFor(wctx, "the mount namespace of "+r.n.Name, 20*time.Millisecond, func(context.Context) (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("mounts of %s: %w, see %s", r.n.Name, errExited, r.l.logPath("mounts-"+r.n.Name))
		}
		_, err := os.Stat(ready)
		return err == nil, nil
	})
}

// stopRealNodes stops each real node's kubelet, then its containerd with every container it
// runs.
func (l *Lab) stopRealNodes(ctx context.Context) error {
	var errs []error
	for _, r := range l.real {
		r.podNetns = r.mountedPodNetns()
		r.mu.Lock()
		r.kubelet.stop(10 * time.Second)
		r.mu.Unlock()
		errs = append(errs, r.containerd.Stop(ctx))
	}
	return errors.Join(errs...)
}

// mountedPodNetns lists the cni-* namespaces mounted under /run/netns in the node's mount
// namespace: those are this node's, whatever other labs have mounted in theirs.
func (r *realNode) mountedPodNetns() []string {
	if r.mounts == nil || r.mounts.exited() {
		return nil
	}
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(r.mounts.cmd.Process.Pid), "mountinfo"))
	if err != nil {
		return nil
	}
	var names []string
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		for _, dir := range []string{"/run/netns/", "/var/run/netns/"} {
			if name, ok := strings.CutPrefix(f[4], dir); ok && strings.HasPrefix(name, "cni-") && !strings.Contains(name, "/") {
				names = append(names, name)
			}
		}
	}
	return names
}

// removePodNetnsFiles removes the mount points of the real nodes' pod namespaces, which
// nothing mounts any more once the nodes' mount namespaces are gone.
func (l *Lab) removePodNetnsFiles() error {
	var errs []error
	for _, r := range l.real {
		for _, name := range r.podNetns {
			if err := os.Remove(filepath.Join(netnsDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove pod namespace mount point: %w", err))
			}
		}
		r.podNetns = nil
	}
	return errors.Join(errs...)
}

// StopKubelet stops the kubelet of a real node, leaving its pods running, as when a
// kubelet crashes or is stopped for maintenance.
func (l *Lab) StopKubelet(node string) error {
	r := l.realNode(node)
	if r == nil {
		return fmt.Errorf("node %s is not a real node", node)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kubelet.stop(10 * time.Second)
	return nil
}

// StartKubelet starts the kubelet of a real node again after StopKubelet.
func (l *Lab) StartKubelet(node string) error {
	r := l.realNode(node)
	if r == nil {
		return fmt.Errorf("node %s is not a real node", node)
	}
	r.mu.Lock()
	running := r.kubelet != nil && !r.kubelet.exited()
	r.mu.Unlock()
	if running {
		return nil
	}
	return r.startKubelet()
}

// waitRealNodesReady waits until every real node's kubelet reports it Ready, which it does
// once containerd has found the node's CNI configuration.
func (l *Lab) waitRealNodesReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for _, r := range l.real {
		err := waitFor(ctx, "node "+r.n.Name+" to be Ready", 200*time.Millisecond, func(ctx context.Context) (bool, error) {
			if r.kubelet.exited() {
				return false, fmt.Errorf("kubelet of %s: %w, see %s", r.n.Name, errExited, r.l.logPath("kubelet-"+r.n.Name))
			}
			node, err := l.client.CoreV1().Nodes().Get(ctx, r.n.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady {
					return c.Status == corev1.ConditionTrue, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("%w (see %s)", err, l.logPath("kubelet-"+r.n.Name))
		}
	}
	return nil
}

// realPodNetns names the network namespace of a pod a real node runs, found as the
// collector finds it: through a process of the pod (its cgroup is the pod's), not the
// runtime. The namespace is attached under the stand-in's name ("<lab>-pod-<ns>-<name>"), so
// Exec, probes and Sweep treat both kinds alike.
func (l *Lab) realPodNetns(namespace, name string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ns, err := attachPodNetns(ctx, l.client, l.cfg.Name, namespace, name)
	return ns, err == nil
}

// attachPodNetns names the network namespace of a pod on a real node of the lab called
// labName (see realPodNetns), or returns the node's for a hostNetwork pod.
func attachPodNetns(ctx context.Context, c kubernetes.Interface, labName, namespace, name string) (string, error) {
	pod, err := c.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("get pod %s/%s: %w", namespace, name, err)
	}
	if pod.Spec.NodeName == "" {
		return "", fmt.Errorf("pod %s/%s is not scheduled", namespace, name)
	}
	nodeNetns := labName + "-" + pod.Spec.NodeName
	if pod.Spec.HostNetwork {
		return nodeNetns, nil
	}
	nsName := podNetnsName(labName, namespace, name)
	if _, err := os.Stat(filepath.Join(netnsDir, nsName)); err == nil {
		return nsName, nil
	}
	pid, err := podPID(nodeNetns, pod.UID)
	if err != nil {
		return "", err
	}
	if _, err := run(ctx, "ip", "netns", "attach", nsName, strconv.Itoa(pid)); err != nil {
		return "", err
	}
	return nsName, nil
}

// PodNetns is the network namespace of a running pod of the lab whose state s is, as
// Lab.PodNetns finds it: how `ndlab exec NAMESPACE/POD` finds it from another process.
func (s State) PodNetns(ctx context.Context, namespace, name string) (string, error) {
	if ns, ok := s.Pods[namespace+"/"+name]; ok {
		return ns, nil
	}
	if s.NodeKind != NodesReal {
		return "", fmt.Errorf("pod %s/%s is not running in lab %s", namespace, name, s.Name)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		return "", fmt.Errorf("load lab kubeconfig: %w", err)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", fmt.Errorf("build lab client: %w", err)
	}
	return attachPodNetns(ctx, c, s.Name, namespace, name)
}

// WorkloadContainer is a container that answers TCP and UDP echo on ports, on either kind
// of node: the stand-in serves the ports of any image (named after the container here), a
// real node runs EchoImage on them.
func (l *Lab) WorkloadContainer(name, image string, ports []corev1.ContainerPort) corev1.Container {
	c := corev1.Container{Name: name, Image: image, Ports: ports}
	if l.cfg.NodeKind == NodesReal {
		c.Image, c.Args, c.ImagePullPolicy = EchoImage, EchoArgs(ports), corev1.PullNever
	}
	return c
}

// NodeExec runs a command on a real node as its daemons see the machine: in the node's
// network namespace and its mount namespace (its /etc/cni/net.d, /var/lib/kubelet, and the
// /var/run/netns where containerd mounts pod namespaces).
func (l *Lab) NodeExec(ctx context.Context, node string, argv ...string) ([]byte, error) {
	r := l.realNode(node)
	if r == nil {
		return nil, fmt.Errorf("node %s is not a real node", node)
	}
	return nsExec(ctx, r.n.Netns, r.enter(argv...)...)
}
