package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/controllers"
	"github.com/netdiag/netdiag/internal/metrics"
	"github.com/netdiag/netdiag/internal/plugins"
	"github.com/netdiag/netdiag/internal/transport"
	"github.com/netdiag/netdiag/test/shipped"
)

// TestManagerRunsCollectorsWithItsOwnImage starts `netdiag manager` as a deployment runs
// it (a kubeconfig, a namespace, POD_NAME and no --collector-image) against a real API
// server, and checks that a diagnosis gets a collector pod running the manager's image.
func TestManagerRunsCollectorsWithItsOwnImage(t *testing.T) {
	env, cfg := startEnvtest(t, filepath.Join("config", "crd", "bases"))
	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := diagv1alpha1.AddToScheme(clientgoscheme.Scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const ns, image = "netdiag-system", "registry.example/netdiag:v9"
	mustCreate := func(obj client.Object) {
		t.Helper()
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	mustCreate(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	mustCreate(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "netdiag-manager-abc", Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "manager", Image: image}}},
	})
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	mustCreate(node)
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.7.1"}}
	if err := c.Status().Update(ctx, node); err != nil {
		t.Fatal(err)
	}

	t.Setenv("POD_NAME", "netdiag-manager-abc")
	done := make(chan error, 1)
	go func() {
		done <- runManager(ctx, managerOptions{
			namespace: ns, kubeconfig: path, metrics: metricsOptions{bindAddress: "0"}, probeAddr: "127.0.0.1:0", concurrency: 1,
		})
	}()

	mustCreate(&diagv1alpha1.NetworkDiagnosis{
		ObjectMeta: metav1.ObjectMeta{Name: "node-to-node", Namespace: "default"},
		Spec: diagv1alpha1.NetworkDiagnosisSpec{
			Source:      diagv1alpha1.Source{Node: &diagv1alpha1.NodeReference{Name: "n1"}},
			Destination: diagv1alpha1.Destination{IP: "192.168.7.1"},
			Protocol:    diagv1alpha1.ProtocolICMP,
		},
	})
	var pods corev1.PodList
	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := c.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/component": "collector"}); err != nil {
			return false, err
		}
		return len(pods.Items) > 0, nil
	})
	if err != nil {
		t.Fatalf("no collector pod: %v", err)
	}
	if got := pods.Items[0].Spec.Containers[0].Image; got != image {
		t.Errorf("collector image = %q, want the manager's %q", got, image)
	}
	if got := pods.Items[0].Spec.NodeName; got != "n1" {
		t.Errorf("collector on node %q, want n1", got)
	}
	// The controller's metrics are registered with controller-runtime's, which the metrics
	// endpoint serves: the collector just created is counted in flight.
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 15*time.Second, true, func(context.Context) (bool, error) {
		families, err := ctrlmetrics.Registry.Gather()
		if err != nil {
			return false, err
		}
		for _, f := range families {
			if f.GetName() != metrics.NameCollectorsInFlight {
				continue
			}
			for _, m := range f.GetMetric() {
				if m.GetGauge().GetValue() >= 1 {
					return true, nil
				}
			}
		}
		return false, nil
	}); err != nil {
		t.Errorf("no collector in flight in %s on controller-runtime's registry: %v", metrics.NameCollectorsInFlight, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("manager stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("manager did not stop")
	}
}

// startEnvtest starts a real API server (and etcd) with the CRDs in crdDirs, stopped when
// the test ends; it skips the test where the binaries are missing.
func startEnvtest(t *testing.T, crdDirs ...string) (*envtest.Environment, *rest.Config) {
	t.Helper()
	assets := shipped.BinaryAssets(".")
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		t.Skipf("no kube-apiserver in %s: run `make test` or hack/build-controlplane.sh", assets)
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:       crdDirs,
		ErrorIfCRDPathMissing:   len(crdDirs) > 0,
		BinaryAssetsDirectory:   assets,
		ControlPlaneStopTimeout: time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
	})
	return env, cfg
}

// TestManagerHelpListsPluginOptions checks that `netdiag manager --help` shows every
// plugin's options: they are the cluster's defaults each diagnosis starts from.
func TestManagerHelpListsPluginOptions(t *testing.T) {
	cmd := newManagerCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("plugins", pflag.ContinueOnError)
	plugins.Registry().BindFlags(fs)
	n := 0
	fs.VisitAll(func(f *pflag.Flag) {
		n++
		if !strings.Contains(out.String(), "--"+f.Name+" ") {
			t.Errorf("manager --help lacks --%s", f.Name)
		}
	})
	if n == 0 {
		t.Fatal("no plugin has options")
	}
}

// TestPodImage checks which image the collectors get from the manager's Pod: the digest
// the node pulled when the runtime reports one, the spec's tag otherwise.
func TestPodImage(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	pod := func(image string, statuses ...corev1.ContainerStatus) *corev1.Pod {
		return &corev1.Pod{
			Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "sidecar", Image: "proxy:1"},
				{Name: "manager", Image: image},
			}},
			Status: corev1.PodStatus{ContainerStatuses: statuses},
		}
	}
	status := func(name, imageID string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, ImageID: imageID}
	}
	for name, tc := range map[string]struct {
		pod        *corev1.Pod
		want       string
		wantPinned bool
	}{
		"digest from the status": {
			pod:  pod("registry.example/netdiag:v9", status("sidecar", "registry.example/proxy@"+digest), status("manager", "registry.example/netdiag@"+digest)),
			want: "registry.example/netdiag@" + digest, wantPinned: true,
		},
		"docker's scheme is dropped": {
			pod:  pod("netdiag:v9", status("manager", "docker-pullable://docker.io/library/netdiag@"+digest)),
			want: "docker.io/library/netdiag@" + digest, wantPinned: true,
		},
		"the spec names a digest already": {
			pod:  pod("registry.example/netdiag@"+digest, status("manager", digest)),
			want: "registry.example/netdiag@" + digest, wantPinned: true,
		},
		"only a local image ID: the tag": {
			pod:  pod("netdiag:dev", status("manager", digest)),
			want: "netdiag:dev",
		},
		"not started yet: the tag": {
			pod:  pod("registry.example/netdiag:v9"),
			want: "registry.example/netdiag:v9",
		},
		"another container's digest is not ours": {
			pod:  pod("registry.example/netdiag:v9", status("sidecar", "registry.example/proxy@"+digest)),
			want: "registry.example/netdiag:v9",
		},
		"a runtime's own scheme: the tag": {
			pod:  pod("netdiag:test", status("manager", "ndlab://netdiag:test")),
			want: "netdiag:test",
		},
		"no container named manager: the first": {
			pod: &corev1.Pod{
				Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "netdiag", Image: "netdiag:v9"}}},
				Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{status("netdiag", "registry.example/netdiag@"+digest)}},
			},
			want: "registry.example/netdiag@" + digest, wantPinned: true,
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, pinned := podImage(tc.pod, managerContainer)
			if got != tc.want || pinned != tc.wantPinned {
				t.Errorf("podImage = %q, pinned %v; want %q, pinned %v", got, pinned, tc.want, tc.wantPinned)
			}
		})
	}
}

// TestSnapshotFlags checks that the snapshot flags set the reconciler's limits, and that
// their defaults are the transport's.
func TestSnapshotFlags(t *testing.T) {
	for name, tc := range map[string]struct {
		args        []string
		wantDecoded int
		wantAtOnce  int
	}{
		"defaults": {wantDecoded: transport.DefaultMaxDecodedSize, wantAtOnce: controllers.DefaultConcurrentDecodes},
		"set":      {args: []string{"--snapshot-max-decoded-mib", "16", "--max-concurrent-decodes", "1"}, wantDecoded: 16 << 20, wantAtOnce: 1},
	} {
		t.Run(name, func(t *testing.T) {
			var o snapshotOptions
			fs := pflag.NewFlagSet("manager", pflag.ContinueOnError)
			o.bindFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if got := o.limits(); got != (transport.Limits{MaxDecodedSize: tc.wantDecoded}) {
				t.Errorf("limits %+v, want MaxDecodedSize %d", got, tc.wantDecoded)
			}
			if o.concurrentDecodes != tc.wantAtOnce {
				t.Errorf("decodes at once %d, want %d", o.concurrentDecodes, tc.wantAtOnce)
			}
		})
	}
}
