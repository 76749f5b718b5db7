package kubeproxytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ControlPlane is etcd and kube-apiserver from bin/k8s/current, with a client and a
// kubeconfig for kube-proxy.
type ControlPlane struct {
	Client     client.Client
	Kubeconfig string
	bin        string
}

// StartControlPlane starts etcd and kube-apiserver (service range 10.96.0.0/16) with the
// binaries hack/build-controlplane.sh built; they are stopped when the test ends.
func StartControlPlane(t *testing.T) *ControlPlane {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "bin", "k8s", "current")
	env := &envtest.Environment{BinaryAssetsDirectory: bin}
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.96.0.0/16")
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatalf("client for the control plane: %v", err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatalf("write kubeconfig: %v", err)
	}
	return &ControlPlane{Client: c, Kubeconfig: kubeconfig, bin: bin}
}

// repoRoot is the nearest directory above the working directory that holds go.mod: the
// tests run in their package's directory, at any depth.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// StartKubeProxy runs kube-proxy as node-a in the given mode (iptables, ipvs, nftables) against
// the control plane. The returned stop ends it, prints its log when the test failed and runs
// kube-proxy --cleanup, so that the next mode starts from empty tables.
func (cp *ControlPlane) StartKubeProxy(t testing.TB, ctx context.Context, mode string) (stop func()) {
	t.Helper()
	var log bytes.Buffer
	bin := filepath.Join(cp.bin, "kube-proxy")
	cmd := exec.CommandContext(ctx, bin,
		"--kubeconfig", cp.Kubeconfig,
		"--proxy-mode", mode,
		"--conntrack-max-per-core", "0",
		"--hostname-override", "node-a",
		"--cluster-cidr", "10.244.0.0/16",
		"--healthz-bind-address", "127.0.0.1:10256",
		"--metrics-bind-address", "127.0.0.1:10249",
		"--v", "2",
	)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kube-proxy: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("kube-proxy log:\n%s", log.String())
		}
		_ = exec.Command(bin, "--cleanup").Run()
	}
}
