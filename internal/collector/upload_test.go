package collector

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/transport"
)

const uploadNamespace = "netdiag-system"

// startAPIServer runs etcd and kube-apiserver (from hack/build-controlplane.sh) for the test
// and returns a client and a kubeconfig file for it.
func startAPIServer(t *testing.T) (kubernetes.Interface, string) {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		abs, err := filepath.Abs("../../bin/k8s/current")
		if err != nil {
			t.Fatal(err)
		}
		assets = abs
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		t.Skipf("no kube-apiserver in %s (run hack/build-controlplane.sh): %v", assets, err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: uploadNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	return cs, kubeconfig
}

// buildNetdiag builds the netdiag binary the collector pod runs.
func buildNetdiag(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "netdiag")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// downloaded fetches and decodes the snapshot ConfigMaps of a diagnosis and node.
func downloaded(t *testing.T, cs kubernetes.Interface, uid, node string) (*netstack.NodeSnapshot, []corev1.ConfigMap) {
	t.Helper()
	sel := labels.SelectorFromSet(labels.Set{transport.LabelDiagnosis: uid, transport.LabelNode: node})
	list, err := cs.CoreV1().ConfigMaps(uploadNamespace).List(t.Context(), metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		t.Fatal(err)
	}
	snap, complete, err := transport.Decode(list.Items)
	if err != nil || !complete {
		t.Fatalf("decode %d ConfigMaps: complete %v, %v", len(list.Items), complete, err)
	}
	return snap, list.Items
}

// TestCollectCommandUploads runs the real `netdiag collect` as the collector pod runs it,
// against a real API server, twice (a restarted collector), and reads the snapshot back.
func TestCollectCommandUploads(t *testing.T) {
	n := makeNode(t)
	bin := buildNetdiag(t)
	cs, kubeconfig := startAPIServer(t)

	// A larger snapshot left by an earlier run: chunks 1 and 2 must not survive.
	for i := 1; i < 3; i++ {
		_, err := cs.CoreV1().ConfigMaps(uploadNamespace).Create(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
			Name: transport.ChunkName("snap-n1", i), Namespace: uploadNamespace,
			Labels:      map[string]string{transport.LabelDiagnosis: "uid-1", transport.LabelNode: "n1", transport.LabelComponent: transport.ComponentSnapshot},
			Annotations: map[string]string{transport.AnnotationChunk: fmt.Sprintf("%d/3", i)},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}

	var first time.Time
	for run := range 2 {
		// The node is the test's namespace; the collector runs beside it in the machine's
		// own namespace, where the API server listens.
		cmd := exec.Command(bin, "collect", "--node", "n1",
			"--pod", "default/web="+podIP,
			"--netns-dirs", "/var/run/netns",
			"--upload-namespace", uploadNamespace, "--diagnosis-uid", "uid-1", "--snapshot-prefix", "snap-n1",
			"--pod-name", "collector-n1", "--pod-uid", "pod-uid-1",
			"--kubeconfig", kubeconfig,
			"--probe-from", "pod:default/web", "--probe-to", bridgeIP, "--probe-protocol", "TCP", "--probe-port", "8080")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("run %d: netdiag collect: %v\n%s", run, err, out)
		}
		snap, cms := downloaded(t, cs, "uid-1", "n1")
		if len(cms) != 1 || cms[0].Name != "snap-n1-0" {
			var names []string
			for _, cm := range cms {
				names = append(names, cm.Name)
			}
			t.Errorf("run %d: ConfigMaps %v, want [snap-n1-0]", run, names)
		}
		expectOwner(t, cms, "collector-n1", "pod-uid-1")
		if snap.Node != "n1" || len(snap.Host.Interfaces) == 0 || snap.CollectedAt.IsZero() {
			t.Errorf("run %d: node %q with %d interfaces collected at %v", run, snap.Node, len(snap.Host.Interfaces), snap.CollectedAt)
		}
		if len(snap.Pods) != 1 || snap.Pods[0].NetNS != n.podPath {
			t.Fatalf("run %d: pods %+v, want web found in %s", run, snap.Pods, n.podPath)
		}
		pod := snap.Pods[0]
		if !slices.ContainsFunc(pod.Interfaces, func(i netstack.Interface) bool {
			return i.Name == "eth0" && len(i.Addresses) == 1 && i.Addresses[0].Addr() == mustAddr(podIP)
		}) {
			t.Errorf("run %d: pod interfaces %+v lack eth0 with %s", run, pod.Interfaces, podIP)
		}
		if snap.Probe == nil || !snap.Probe.Reachable {
			t.Errorf("run %d: probe %+v, want reachable", run, snap.Probe)
		}
		if run == 0 {
			first = snap.CollectedAt
		} else if !snap.CollectedAt.After(first) {
			t.Errorf("second run's snapshot (%v) did not replace the first (%v)", snap.CollectedAt, first)
		}
	}
}

// TestUploadSplitsAndReplaces uploads a snapshot too large for one ConfigMap, then a small
// one under the same prefix: the reader sees each whole, and never a mix.
func TestUploadSplitsAndReplaces(t *testing.T) {
	cs, _ := startAPIServer(t)
	noise := make([]byte, 2*transport.ChunkSize)
	_, _ = rand.Read(noise)
	big := &netstack.NodeSnapshot{Version: netstack.Version, Node: "n2", Host: netstack.Netstack{IPTables: base64.StdEncoding.EncodeToString(noise)}}
	dst := Destination{Namespace: uploadNamespace, Prefix: "snap-n2", DiagnosisUID: "uid-2", Pod: "collector-n2", PodUID: "pod-uid-2"}
	if err := Upload(t.Context(), cs, big, dst); err != nil {
		t.Fatal(err)
	}
	got, cms := downloaded(t, cs, "uid-2", "n2")
	expectOwner(t, cms, "collector-n2", "pod-uid-2")
	if len(cms) < 3 || got.Host.IPTables != big.Host.IPTables {
		t.Fatalf("big snapshot: %d ConfigMaps, iptables intact %v", len(cms), got.Host.IPTables == big.Host.IPTables)
	}
	small := &netstack.NodeSnapshot{Version: netstack.Version, Node: "n2", Host: netstack.Netstack{IPTables: "*filter\nCOMMIT\n"}}
	if err := Upload(t.Context(), cs, small, dst); err != nil {
		t.Fatal(err)
	}
	got, cms = downloaded(t, cs, "uid-2", "n2")
	if len(cms) != 1 || got.Host.IPTables != small.Host.IPTables {
		t.Errorf("small snapshot after big: %d ConfigMaps, iptables %q", len(cms), got.Host.IPTables)
	}
}

// expectOwner checks that every ConfigMap is owned by the collector pod, and by it alone.
func expectOwner(t *testing.T, cms []corev1.ConfigMap, pod string, uid types.UID) {
	t.Helper()
	for _, cm := range cms {
		want := []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: pod, UID: uid, Controller: ptr.To(true)}}
		if diff := cmp.Diff(want, cm.OwnerReferences); diff != "" {
			t.Errorf("ConfigMap %s owners (-want +got):\n%s", cm.Name, diff)
		}
	}
}

// TestUploadNeedsItsPod checks that a collector that does not know its own pod uploads
// nothing, rather than chunks the controller would refuse.
func TestUploadNeedsItsPod(t *testing.T) {
	snap := &netstack.NodeSnapshot{Version: netstack.Version, Node: "n3"}
	err := Upload(t.Context(), fake.NewClientset(), snap, Destination{Namespace: uploadNamespace, Prefix: "p", DiagnosisUID: "u", Pod: "collector-n3"})
	if err == nil || !strings.Contains(err.Error(), "own pod name and UID are required") {
		t.Errorf("Upload without the pod's UID: %v", err)
	}
}
