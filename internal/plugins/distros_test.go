package plugins

import (
	"path/filepath"
	"testing"

	"github.com/netdiag/netdiag/internal/snapshotdir"
)

// TestDetectDistributions detects the plugin of clusters recorded the way k3s and RKE2 lay
// their objects (testdata/distros: the nodes with their labels and annotations, the
// DaemonSets with their names and images), each mapped to the plugin that simulates it.
func TestDetectDistributions(t *testing.T) {
	cases := map[string]struct {
		want, evidence string
		simulated      bool
	}{
		// No DaemonSet: k3s shows itself on its nodes; a tenant's flannel look-alike is not read.
		"k3s": {want: "k3s", evidence: "Node k3s-server-0 label node.kubernetes.io/instance-type=k3s and annotation flannel.alpha.coreos.com/backend-type", simulated: true},
		// --flannel-backend=none: no flannel annotation, the operator's calico-node runs.
		"k3s-calico":  {want: "calico", evidence: "DaemonSet calico-system/calico-node", simulated: true},
		"rke2-canal":  {want: "canal", evidence: "DaemonSet kube-system/rke2-canal", simulated: true},
		"rke2-calico": {want: "calico", evidence: "DaemonSet calico-system/calico-node", simulated: true},
		// eBPF: followed up to cilium's devices, Unknown past them.
		"rke2-cilium": {want: "cilium", evidence: "DaemonSet kube-system/cilium", simulated: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			snap, _, err := snapshotdir.Load(filepath.Join("testdata", "distros", name))
			if err != nil {
				t.Fatal(err)
			}
			det, ok := Registry().Detect(snap)
			if !ok || det.Plugin.Name != tc.want {
				t.Fatalf("Detect = %q (%s), %v; want %q", det.Plugin.Name, det.Evidence, ok, tc.want)
			}
			if det.Evidence != tc.evidence {
				t.Errorf("evidence %q, want %q", det.Evidence, tc.evidence)
			}
			if det.Plugin.Simulated() != tc.simulated {
				t.Errorf("%s simulated = %v, want %v", tc.want, det.Plugin.Simulated(), tc.simulated)
			}
		})
	}
}

// TestDetectK3sWithAnotherCNI: a k3s cluster whose own flannel was replaced by canal carries
// k3s's labels and canal's flannel annotations; canal's running DaemonSet decides.
func TestDetectK3sWithAnotherCNI(t *testing.T) {
	snap, _, err := snapshotdir.Load(filepath.Join("testdata", "distros", "k3s"))
	if err != nil {
		t.Fatal(err)
	}
	canal, _, err := snapshotdir.Load(filepath.Join("testdata", "distros", "rke2-canal"))
	if err != nil {
		t.Fatal(err)
	}
	snap.DaemonSets = append(snap.DaemonSets, canal.DaemonSets...)
	det, ok := Registry().Detect(snap)
	if !ok || det.Plugin.Name != "canal" {
		t.Fatalf("Detect = %q (%s), %v; want canal", det.Plugin.Name, det.Evidence, ok)
	}
}
