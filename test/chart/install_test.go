package chart

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/netdiag/netdiag/test/shipped"
)

// TestInstallAndUninstall installs the chart with helm into a real etcd and kube-apiserver,
// as the docs say (the release in another namespace, the chart making its own), finds every
// object of config/default there, then uninstalls it: the manager goes and the CRD, kept,
// stays with every diagnosis.
func TestInstallAndUninstall(t *testing.T) {
	helm := helmBin(t)
	tree := kustomize(t)
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver")
	}
	assets := shipped.BinaryAssets(root)
	env := &envtest.Environment{BinaryAssetsDirectory: assets, ControlPlaneStopTimeout: time.Minute}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest (hack/build-controlplane.sh builds etcd and kube-apiserver): %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	admin, err := env.AddUser(envtest.User{Name: "chart-admin", Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kcPath := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kcPath, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if out, err := run(t, helm, "install", "netdiag", chartDir, "--kubeconfig", kcPath, "--namespace", "default", "--timeout", "1m"); err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
	for k, want := range tree {
		got := lookup(ctx, t, c, want)
		if got == nil {
			t.Errorf("%s is not in the cluster after helm install", k)
			continue
		}
		if got.GetAnnotations()["meta.helm.sh/release-name"] != "netdiag" {
			t.Errorf("%s is not the release's: annotations %v", k, got.GetAnnotations())
		}
		if w, _ := want["metadata"].(obj)["labels"].(obj); len(w) > 0 {
			for l, v := range w {
				if got.GetLabels()[l] != v {
					t.Errorf("%s: label %s is %q, want config/default's %v", k, l, got.GetLabels()[l], v)
				}
			}
		}
	}

	if out, err := run(t, helm, "uninstall", "netdiag", "--kubeconfig", kcPath, "--namespace", "default", "--timeout", "1m"); err != nil {
		t.Fatalf("helm uninstall: %v\n%s", err, out)
	}
	var kept []string
	for k, want := range tree {
		got := lookup(ctx, t, c, want)
		// Without a namespace controller the Namespace stays Terminating; it is asked to go.
		if got != nil && got.GetDeletionTimestamp() == nil {
			kept = append(kept, k)
		}
	}
	var crds []string
	for k, o := range tree {
		if str(o["kind"]) == "CustomResourceDefinition" {
			crds = append(crds, k)
		}
	}
	if diff := cmp.Diff(crds, kept); diff != "" {
		t.Errorf("objects left after helm uninstall (-want +got): want only the CRD, kept\n%s", diff)
	}
}

// lookup is the cluster's copy of o, nil when there is none.
func lookup(ctx context.Context, t *testing.T, c client.Client, o obj) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(str(o["apiVersion"]))
	u.SetKind(str(o["kind"]))
	meta := o["metadata"].(obj)
	err := c.Get(ctx, client.ObjectKey{Namespace: str(meta["namespace"]), Name: str(meta["name"])}, u)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("get %s: %v", key(o), err)
	}
	return u
}
