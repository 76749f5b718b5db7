package snapshotdir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
)

// TestRoundTrip writes a built cluster as a folder and reads it back: every object and
// every node's state survive, so that `netdiag diagnose --snapshot` sees what was written.
func TestRoundTrip(t *testing.T) {
	c := flanneltest.New(flanneltest.VXLAN, 2).
		Pod("default", "client", 0, map[string]string{"app": "client"}).
		Pod("default", "web-0", 1, map[string]string{"app": "web"}, 8080).
		Service("default", "web", map[string]string{"app": "web"}, 80, 8080).
		Build()
	dir := t.TempDir()
	if err := Write(dir, c.Snapshot, c.Nodes); err != nil {
		t.Fatal(err)
	}
	snap, nodes, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	counts := func(n, p, s, e int) [4]int { return [4]int{n, p, s, e} }
	if diff := cmp.Diff(counts(len(c.Snapshot.Nodes), len(c.Snapshot.Pods), len(c.Snapshot.Services), len(c.Snapshot.EndpointSlices)),
		counts(len(snap.Nodes), len(snap.Pods), len(snap.Services), len(snap.EndpointSlices))); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	if snap.Pod("default", "web-0") == nil || snap.Service("default", "web") == nil {
		t.Errorf("web-0 or the web service is missing after the round trip")
	}
	for name, want := range c.Nodes {
		got := nodes[name]
		if got == nil {
			t.Fatalf("node %s missing after the round trip", name)
		}
		if diff := cmp.Diff(want.Host.IPTables, got.Host.IPTables); diff != "" {
			t.Errorf("node %s iptables (-want +got):\n%s", name, diff)
		}
		if len(got.Host.Routes) != len(want.Host.Routes) || len(got.Pods) != len(want.Pods) {
			t.Errorf("node %s: %d routes and %d pods, want %d and %d", name, len(got.Host.Routes), len(got.Pods), len(want.Host.Routes), len(want.Pods))
		}
	}
}

func TestLoadErrors(t *testing.T) {
	cases := map[string]map[string]string{
		"a YAML file that does not parse": {"objects.yaml": "kind: [\n"},
		"an object without kind":          {"objects.yaml": "metadata:\n  name: x\n"},
		"a node file that is not JSON":    {"node-0.json": "{"},
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for f, text := range files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, _, err := Load(dir)
			if err == nil {
				t.Fatal("Load: no error")
			}
			for f := range files {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error %q does not name %s", err, f)
				}
			}
		})
	}
	if _, _, err := Load(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("Load of a missing folder: no error")
	}
}

// TestTarball reads a tarball of a folder as the folder: the same objects and node states,
// whatever folder inside the tarball holds them.
func TestTarball(t *testing.T) {
	c := flanneltest.New(flanneltest.VXLAN, 2).
		Pod("default", "web-0", 1, map[string]string{"app": "web"}, 8080).
		Service("default", "web", map[string]string{"app": "web"}, 80, 8080).
		Build()
	files, err := Encode(c.Snapshot, c.Nodes)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "snap.tar.gz")
	if err := WriteFiles(path, files); err != nil {
		t.Fatal(err)
	}
	snap, nodes, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Service("default", "web") == nil || snap.Pod("default", "web-0") == nil || len(nodes) != len(c.Nodes) {
		t.Errorf("tarball read back %d nodes, service %v, pod %v", len(nodes), snap.Service("default", "web") != nil, snap.Pod("default", "web-0") != nil)
	}
	for name, want := range c.Nodes {
		if diff := cmp.Diff(want.Host.IPTables, nodes[name].Host.IPTables); diff != "" {
			t.Errorf("node %s iptables (-want +got):\n%s", name, diff)
		}
	}
	dup := filepath.Join(t.TempDir(), "dup.tgz")
	if err := WriteFiles(dup, append(files, files[0])); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(dup); err == nil || !strings.Contains(err.Error(), "two files named "+files[0].Name) {
		t.Errorf("tarball with two %s: %v", files[0].Name, err)
	}
}

// TestDigestsForgotten: a folder is read without the collectors' ruleset digests, since its
// rules may have been edited by hand; the rules themselves are read as written.
func TestDigestsForgotten(t *testing.T) {
	c := flanneltest.New(flanneltest.VXLAN, 1).Pod("default", "client", 0, nil).Build().WriteDigests()
	files, err := Encode(c.Snapshot, c.Nodes)
	if err != nil {
		t.Fatal(err)
	}
	_, nodes, err := Parse("folder", files)
	if err != nil {
		t.Fatal(err)
	}
	got := nodes["node-0"]
	if got == nil || got.Host.Digests != nil || got.Pods[0].Digests != nil {
		t.Fatalf("digests read back from a folder: %+v", got)
	}
	if got.Host.IPTables != c.Nodes["node-0"].Host.IPTables {
		t.Error("the node's rules changed on the way through the folder")
	}
}

// TestFelixConfigurationKept: the default FelixConfiguration goes through a folder, so a
// kept bundle diagnosed offline still sees Calico's eBPF data plane serving the Services.
func TestFelixConfigurationKept(t *testing.T) {
	c := flanneltest.New(flanneltest.VXLAN, 1).Build()
	c.Snapshot.FelixConfigurations = []cluster.FelixConfiguration{{
		ObjectMeta: metav1.ObjectMeta{Name: cluster.DefaultFelixConfiguration},
		Spec:       cluster.FelixConfigurationSpec{BPFEnabled: ptr.To(true)},
	}}
	files, err := Encode(c.Snapshot, c.Nodes)
	if err != nil {
		t.Fatal(err)
	}
	snap, _, err := Parse("folder", files)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := cluster.DetectProxyReplacement(snap)
	if !ok || !strings.Contains(r.Evidence, "bpfEnabled=true") {
		t.Errorf("read back from a folder: replacement %+v, %v; FelixConfigurations %+v", r, ok, snap.FelixConfigurations)
	}
}
