package lab

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func realNodes(c *Config) { c.NodeKind = NodesReal }

// TestRealNodes runs the flannel vxlan data plane on real kubelets and containerd: the
// nodes are registered by their kubelets, the pods are containers of the imported echo
// image wired by containerd through each node's CNI configuration, and real packets cross
// them as on the stand-in.
func TestRealNodes(t *testing.T) {
	// Registered before the lab's Down, so it runs after: no namespace a node's containerd
	// mounted may leave its mount point in the machine's /run/netns.
	var podNetns []string
	t.Cleanup(func() {
		for _, name := range podNetns {
			if _, err := os.Stat(filepath.Join(netnsDir, name)); err == nil {
				t.Errorf("Down left %s in %s", name, netnsDir)
			}
		}
	})
	l := upForTest(t, "ndlabr", ModeFlannelVXLAN, ProxyIPTables, realNodes)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for _, n := range l.Nodes() {
		node, err := l.Client().CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		info := node.Status.NodeInfo
		if info.KubeletVersion != kubeVersion || !strings.HasPrefix(info.ContainerRuntimeVersion, "containerd://") {
			t.Errorf("node %s reports kubelet %q and runtime %q, want %s and containerd", n.Name, info.KubeletVersion, info.ContainerRuntimeVersion, kubeVersion)
		}
	}
	pods, svc := shop(t, l)
	probeAll(t, dataPlaneCases(t, l, pods, svc))

	// The API server reaches the kubelet for the container's log, as `kubectl logs` does.
	logs, err := l.Client().CoreV1().Pods("shop").GetLogs(pods[0].Name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("logs of %s: %v", pods[0].Name, err)
	}
	if !strings.Contains(string(logs), "echo on 8080/tcp") {
		t.Errorf("logs of %s = %q, want the echo server's start line", pods[0].Name, logs)
	}
	for _, r := range l.real {
		podNetns = append(podNetns, r.mountedPodNetns()...)
	}
	if len(podNetns) != len(pods) {
		t.Errorf("the nodes' containerd mounted %v under /run/netns, want one namespace per pod (%d)", podNetns, len(pods))
	}
}
