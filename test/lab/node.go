package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

const kubeVersion = "v1.37.2"

func isAlreadyExists(err error) bool { return apierrors.IsAlreadyExists(err) }

// startNodes registers every node, waits for node IPAM to give each a pod CIDR, lays the pod
// network of the mode, starts kube-proxy, and keeps the nodes Ready.
func (l *Lab) startNodes(ctx, runCtx context.Context) error {
	for i := 1; i <= l.cfg.Nodes; i++ {
		n := &Node{Name: "node-" + strconv.Itoa(i), Netns: l.ns("node-" + strconv.Itoa(i)), IP: nodeIP(i), index: i}
		n.dir = filepath.Join(l.cfg.Dir, "nodes", n.Name)
		if err := os.MkdirAll(n.dir, 0o755); err != nil {
			return fmt.Errorf("create node directory: %w", err)
		}
		// What a node's kernel has on by default in a cluster: forwarding for pods, and
		// bridged traffic through iptables for kube-proxy (per namespace on this kernel).
		if err := sysctl(n.Netns, "net/ipv4/ip_forward", "1", "net/bridge/bridge-nf-call-iptables", "1"); err != nil {
			return err
		}
		if err := l.registerNode(ctx, n); err != nil {
			return err
		}
		l.nodes = append(l.nodes, n)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, n := range l.nodes {
		err := waitFor(waitCtx, "a pod CIDR for "+n.Name, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
			node, err := l.client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
			if err != nil || node.Spec.PodCIDR == "" {
				return false, err
			}
			n.PodCIDR, err = netip.ParsePrefix(node.Spec.PodCIDR)
			return err == nil, err
		})
		if err != nil {
			return err
		}
	}
	l.wg.Go(func() { l.heartbeat(runCtx) })
	if err := l.layPodNetwork(ctx); err != nil {
		return err
	}
	for _, n := range l.nodes {
		if err := l.startKubeProxy(n); err != nil {
			return err
		}
	}
	return l.waitKubeProxy(ctx)
}

func (l *Lab) registerNode(ctx context.Context, n *Node) error {
	now := metav1.Now()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: n.Name,
			Labels: map[string]string{
				"kubernetes.io/hostname": n.Name,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
				"ndlab.netdiag.dev/lab":  l.cfg.Name,
			},
		},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: n.IP.String()},
				{Type: corev1.NodeHostName, Address: n.Name},
			},
			Capacity: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("8"),
				corev1.ResourceMemory: resource.MustParse("16Gi"),
				corev1.ResourcePods:   resource.MustParse("110"),
			},
			Conditions: nodeConditions(now),
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion: kubeVersion, OperatingSystem: "linux", Architecture: "amd64",
				ContainerRuntimeVersion: "ndlab://1", OSImage: "ndlab", KernelVersion: "netns",
			},
		},
	}
	node.Status.Allocatable = node.Status.Capacity
	created, err := l.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("register node %s: %w", n.Name, err)
	}
	// The API server drops status on create for some fields; writing it once more makes the
	// node Ready before anything waits on it.
	created.Status = node.Status
	if _, err := l.client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("write status of node %s: %w", n.Name, err)
	}
	return l.renewLease(ctx, n)
}

func nodeConditions(now metav1.Time) []corev1.NodeCondition {
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	return []corev1.NodeCondition{
		cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory"),
		cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure"),
		cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID"),
		cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady"),
	}
}

// renewLease creates or renews the node's Lease, the heartbeat the node lifecycle controller
// watches.
func (l *Lab) renewLease(ctx context.Context, n *Node) error {
	leases := l.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	lease, err := leases.Get(ctx, n.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		lease = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: n.Name, Namespace: corev1.NamespaceNodeLease},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity: ptr.To(n.Name), LeaseDurationSeconds: ptr.To[int32](40), RenewTime: &now,
			},
		}
		_, err = leases.Create(ctx, lease, metav1.CreateOptions{})
	} else if err == nil {
		lease.Spec.RenewTime = &now
		_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("renew lease of node %s: %w", n.Name, err)
	}
	return nil
}

// heartbeat keeps every node Ready: every 10s it renews the Lease and rewrites the kubelet's
// conditions (healthy, with a fresh heartbeat time), as a kubelet does. Rewriting the status,
// not only the time, brings a node back should the node lifecycle controller have marked it
// Unknown while the machine was too busy to beat in time.
func (l *Lab) heartbeat(ctx context.Context) {
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, n := range l.nodes {
			if err := l.renewLease(ctx, n); err != nil && ctx.Err() == nil {
				l.cfg.Log.Error(err, "Renew Node lease", "node", n.Name)
			}
			if err := l.postNodeStatus(ctx, n); err != nil && ctx.Err() == nil {
				l.cfg.Log.Error(err, "Update Node status", "node", n.Name)
			}
		}
	}
}

func (l *Lab) postNodeStatus(ctx context.Context, n *Node) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := l.client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		for _, want := range nodeConditions(now) {
			found := false
			for i := range node.Status.Conditions {
				c := &node.Status.Conditions[i]
				if c.Type != want.Type {
					continue
				}
				found = true
				if c.Status != want.Status {
					c.LastTransitionTime = now
				}
				c.Status, c.Reason, c.Message, c.LastHeartbeatTime = want.Status, want.Reason, "", now
			}
			if !found {
				node.Status.Conditions = append(node.Status.Conditions, want)
			}
		}
		_, err = l.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
		return err
	})
}

// startKubeProxy runs the real kube-proxy in the node's namespace.
func (l *Lab) startKubeProxy(n *Node) error {
	p, err := startProcess("kube-proxy-"+n.Name, n.Netns, l.logPath("kube-proxy-"+n.Name), []string{
		l.bin("k8s/current/kube-proxy"),
		"--kubeconfig=" + l.proxyKubeconfigPath(),
		"--proxy-mode=" + string(l.cfg.ProxyMode),
		"--hostname-override=" + n.Name,
		"--cluster-cidr=" + clusterCIDR.String(),
		// conntrack limits are host-wide sysctls; a namespace cannot and need not change them.
		"--conntrack-max-per-core=0",
		"--conntrack-tcp-timeout-established=0", "--conntrack-tcp-timeout-close-wait=0",
		"--v=1",
	}, startOptions{})
	if err != nil {
		return err
	}
	l.procs.add(p)
	return nil
}

// StopKubeProxy stops node's kube-proxy as a crash or an eviction would: the rules it
// programmed stay until something else removes them.
func (l *Lab) StopKubeProxy(node string) error {
	if !l.procs.stopNamed("kube-proxy-"+node, 5*time.Second) {
		return fmt.Errorf("no kube-proxy runs on node %s", node)
	}
	return nil
}

// StartKubeProxy starts node's kube-proxy again after StopKubeProxy; it programs its rules
// afresh, as a restarted kube-proxy does.
func (l *Lab) StartKubeProxy(ctx context.Context, node string) error {
	for _, n := range l.nodes {
		if n.Name == node {
			if err := l.startKubeProxy(n); err != nil {
				return err
			}
			return l.waitKubeProxy(ctx)
		}
	}
	return fmt.Errorf("no node %s in the lab", node)
}

// waitKubeProxy waits until every node's kube-proxy has programmed the kubernetes Service.
func (l *Lab) waitKubeProxy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	for _, n := range l.nodes {
		err := waitFor(ctx, "kube-proxy on "+n.Name, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
			var out []byte
			var err error
			if l.cfg.ProxyMode == ProxyNFTables {
				out, err = nsExec(ctx, n.Netns, "nft", "list", "table", "ip", "kube-proxy")
			} else {
				out, err = nsExec(ctx, n.Netns, "iptables-save", "-t", "nat")
			}
			if err != nil {
				return false, err
			}
			return containsAll(string(out), kubernetesSvcIP.String(), controlPlaneIP.String()), nil
		})
		if err != nil {
			return fmt.Errorf("%w (see %s)", err, l.logPath("kube-proxy-"+n.Name))
		}
	}
	return nil
}
