package main

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"

	"github.com/netdiag/netdiag/internal/bundle"
	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugins"
	"github.com/netdiag/netdiag/internal/snapshotdir"
)

// bundleCases are questions on the recorded snapshots in testdata/: a healthy service path,
// a rule that drops, and a policy that denies.
var bundleCases = map[string]struct {
	folder, src, dst string
	port             uint16
}{
	"service across the vxlan tunnel": {"flannel-vxlan", "pod:shop/client", "service:shop/web", 80},
	"a DROP in FORWARD":               {"flannel-host-gw-forward-drop", "pod:shop/client", "pod:shop/db", 5432},
	"calico policy denies":            {"calico-routed", "pod:shop/client", "pod:shop/db", 5432},
	"calico service":                  {"calico-routed", "pod:shop/client", "service:shop/web", 80},
}

// recordedBundle diagnoses a question on a snapshot folder as the controller does, through
// a Recorder, and returns the bundle of what the engine read and the engine's report.
func recordedBundle(t *testing.T, folder, src, dst string, port uint16) (*bundle.Bundle, string) {
	t.Helper()
	full, nodes, err := snapshotdir.Load(filepath.Join("testdata", folder))
	if err != nil {
		t.Fatal(err)
	}
	rec := bundle.Record(full)
	snap := cluster.NewSnapshot(rec, full.Nodes, full.DaemonSets)
	srcRef, _ := diagnose.ParseEndpointRef(src)
	dstRef, _ := diagnose.ParseEndpointRef(dst)
	b := &bundle.Bundle{Question: bundle.NewQuestion("shop/check", srcRef, dstRef, model.TCP, port, "auto", nil), Nodes: nodes}
	b.Cluster = snap
	in, err := b.Input()
	if err != nil {
		t.Fatal(err)
	}
	report := diagnoseText(t, in)
	b.Cluster = rec.Snapshot(full.Nodes, full.DaemonSets)
	return b, report
}

func diagnoseText(t *testing.T, in diagnose.Input) string {
	t.Helper()
	res, err := (&diagnose.Diagnostor{Plugins: plugins.Registry()}).Diagnose(in)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := diagnose.WriteText(&out, in.Question, res); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestBundleRoundTrip writes what a diagnosis read as a folder and as a tarball, reads each
// back, and diagnoses it: the report is the very one the diagnosis gave, through the engine
// and through `netdiag diagnose --snapshot` with the flags `netdiag bundle` prints.
func TestBundleRoundTrip(t *testing.T) {
	for name, tc := range bundleCases {
		t.Run(name, func(t *testing.T) {
			b, want := recordedBundle(t, tc.folder, tc.src, tc.dst, tc.port)
			if n := len(b.Cluster.Pods); n == 0 || n > 4 {
				t.Errorf("the bundle holds %d pods, want those the diagnosis read, of 4", n)
			}
			for _, path := range []string{filepath.Join(t.TempDir(), "b"), filepath.Join(t.TempDir(), "b.tar.gz")} {
				if err := bundle.Write(path, b); err != nil {
					t.Fatal(err)
				}
				back, err := bundle.Read(path)
				if err != nil {
					t.Fatal(err)
				}
				in, err := back.Input()
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, diagnoseText(t, in)); diff != "" {
					t.Errorf("%s: report (-diagnosis +bundle):\n%s", filepath.Base(path), diff)
				}
				var cli bytes.Buffer
				cmd := newDiagnoseCommand()
				cmd.SetOut(&cli)
				cmd.SetArgs(append([]string{"--snapshot", path}, back.Question.Args()...))
				if err := cmd.Execute(); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, cli.String()); diff != "" {
					t.Errorf("%s: netdiag diagnose (-diagnosis +bundle):\n%s", filepath.Base(path), diff)
				}
			}
		})
	}
}

// TestBundleRedact redacts a bundle: it diagnoses to the same verdict and suspicion codes,
// and no name of the cluster's or address it held is left in its files.
func TestBundleRedact(t *testing.T) {
	for name, tc := range bundleCases {
		t.Run(name, func(t *testing.T) {
			b, _ := recordedBundle(t, tc.folder, tc.src, tc.dst, tc.port)
			red, err := bundle.Redact(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(verdictAndCodes(t, b), verdictAndCodes(t, red)); diff != "" {
				t.Errorf("verdict and codes (-original +redacted):\n%s", diff)
			}
			dir := filepath.Join(t.TempDir(), "redacted")
			if err := bundle.Write(dir, red); err != nil {
				t.Fatal(err)
			}
			secrets := originals(t, b)
			if len(secrets) < 10 {
				t.Fatalf("only %d names and addresses to look for: %v", len(secrets), secrets)
			}
			files, _ := os.ReadDir(dir)
			for _, f := range files {
				data, _ := os.ReadFile(filepath.Join(dir, f.Name()))
				for _, s := range secrets {
					if regexp.MustCompile(`(^|[^0-9A-Za-z.-])`+regexp.QuoteMeta(s)+`($|[^0-9A-Za-z-]|\.[^0-9])`).Match(data) || strings.Contains(f.Name(), s) {
						t.Errorf("%s still holds %q", f.Name(), s)
					}
				}
			}
		})
	}
}

func verdictAndCodes(t *testing.T, b *bundle.Bundle) []string {
	t.Helper()
	answer, err := bundle.Answer(plugins.Registry(), b)
	if err != nil {
		t.Fatal(err)
	}
	return answer
}

// originals are the names of the workloads and nodes, and the unicast addresses, of a
// bundle, which a redacted one must not hold.
func originals(t *testing.T, b *bundle.Bundle) []string {
	t.Helper()
	var out []string
	for _, p := range b.Cluster.Pods {
		out = append(out, p.Namespace, p.Name, p.Status.PodIP)
	}
	for _, s := range b.Cluster.Services {
		out = append(out, s.Name, s.Spec.ClusterIP)
	}
	for _, n := range b.Cluster.Nodes {
		out = append(out, n.Name)
		for _, a := range n.Status.Addresses {
			out = append(out, a.Address)
		}
	}
	for _, n := range b.Nodes {
		for _, r := range n.Host.Routes {
			if r.Dst.IsValid() && !r.Dst.Addr().IsLoopback() && r.Dst.Bits() > 0 && !r.Dst.Addr().IsLinkLocalUnicast() && !r.Dst.Addr().IsMulticast() {
				out = append(out, r.Dst.String())
			}
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return slices.DeleteFunc(out, func(s string) bool {
		a, err := netip.ParseAddr(s)
		return s == "" || (err == nil && (a.IsLoopback() || a.IsLinkLocalUnicast()))
	})
}

// TestBundleSameAnswer shows the check `netdiag bundle --redact` makes before it writes: a
// bundle that answers otherwise than the original (here the same question where a rule
// drops) is refused, with both answers.
func TestBundleSameAnswer(t *testing.T) {
	healthy, _ := recordedBundle(t, "flannel-vxlan", "pod:shop/client", "pod:shop/db", 5432)
	dropped, _ := recordedBundle(t, "flannel-host-gw-forward-drop", "pod:shop/client", "pod:shop/db", 5432)
	if err := bundle.SameAnswer(plugins.Registry(), healthy, healthy); err != nil {
		t.Errorf("a bundle against itself: %v", err)
	}
	err := bundle.SameAnswer(plugins.Registry(), healthy, dropped)
	if err == nil || !strings.Contains(err.Error(), "Unreachable") || !strings.Contains(err.Error(), "Reachable") {
		t.Errorf("a bundle that answers otherwise: %v", err)
	}
}

// TestBundleCommand runs `netdiag bundle --redact` on a diagnosis whose bundle the
// controller kept, and then the command it prints: the redacted bundle answers as the
// diagnosis did.
func TestBundleCommand(t *testing.T) {
	b, _ := recordedBundle(t, "calico-routed", "pod:shop/client", "pod:shop/db", 5432)
	want := verdictAndCodes(t, b)
	tarball, err := b.Tarball()
	if err != nil {
		t.Fatal(err)
	}
	nd := &diagv1alpha1.NetworkDiagnosis{ObjectMeta: metav1.ObjectMeta{Name: "check", Namespace: "shop", UID: "u-1"}}
	objs := []client.Object{nd}
	for _, cm := range bundle.ConfigMaps(tarball, "netdiag-system", nd.UID) {
		objs = append(objs, cm)
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(corev1.AddToScheme(scheme))
	utilruntime.Must(diagv1alpha1.AddToScheme(scheme))
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()

	out := filepath.Join(t.TempDir(), "check.tgz")
	var printed bytes.Buffer
	o := bundleOptions{output: out, redact: true, controllerNamespace: "netdiag-system"}
	if err := runBundle(t.Context(), &printed, c, types.NamespacedName{Namespace: "shop", Name: "check"}, o); err != nil {
		t.Fatal(err)
	}
	_, rerun, ok := strings.Cut(printed.String(), "netdiag diagnose ")
	if !ok || strings.Contains(rerun, "shop") {
		t.Fatalf("netdiag bundle printed %q, want a redacted netdiag diagnose command", printed.String())
	}
	var report bytes.Buffer
	cmd := newDiagnoseCommand()
	cmd.SetOut(&report)
	cmd.SetArgs(strings.Fields(rerun))
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if code := w[strings.LastIndex(w, " ")+1:]; !strings.Contains(report.String(), code) {
			t.Errorf("the redacted bundle's report lacks %s:\n%s", code, report.String())
		}
	}
	if err := runBundle(t.Context(), io.Discard, c, types.NamespacedName{Namespace: "shop", Name: "other"}, o); err == nil {
		t.Error("netdiag bundle of a diagnosis that does not exist: no error")
	}
}
