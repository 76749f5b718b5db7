package admission

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// startControllerManager runs the real kube-controller-manager against envtest's API server
// with the one controller the specs need: clusterrole-aggregation fills the built-in admin,
// edit and view roles from the labels of the shipped ones, as in a real cluster. It returns
// what stops it.
func startControllerManager() func() {
	GinkgoHelper()
	// envtest's usual asset bundles hold no controller manager; hack/build-controlplane.sh
	// builds one beside the API server.
	bin := filepath.Join(binaryAssets(), "kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		bin = filepath.Join(repoRoot, "bin", "k8s", "current", "kube-controller-manager")
	}
	if _, err := os.Stat(bin); err != nil {
		Fail("no kube-controller-manager in $KUBEBUILDER_ASSETS or bin/k8s/current; run hack/build-controlplane.sh: " + err.Error())
	}
	user, err := testEnv.AddUser(envtest.User{Name: "kube-controller-manager", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	kubeconfig, err := user.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	dir := GinkgoT().TempDir()
	path := filepath.Join(dir, "kubeconfig")
	Expect(os.WriteFile(path, kubeconfig, 0o600)).To(Succeed())
	log, err := os.Create(filepath.Join(dir, "kube-controller-manager.log"))
	Expect(err).NotTo(HaveOccurred())

	cmd := exec.Command(bin,
		"--kubeconfig="+path,
		"--controllers=clusterrole-aggregation-controller",
		"--leader-elect=false",
		"--secure-port=0",
		"--use-service-account-credentials=false",
		"--v=1",
	)
	cmd.Stdout, cmd.Stderr = log, log
	// It dies with the test binary, however that ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	Expect(cmd.Start()).To(Succeed())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = log.Close()
	}
}
