package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/test/lab"
)

// collectorImage is the image the controller gives its collector pods; the lab's kubelet
// stand-in runs the netdiag binary for it.
const collectorImage = "netdiag:e2e"

var (
	scheme = runtime.NewScheme()
	// repoRoot is the repository's top directory (config/, bin/).
	repoRoot string
	// netdiagBinary is the netdiag binary the manager and the collectors run.
	netdiagBinary string
	// labLock is held while the suite runs its labs.
	labLock *os.File
	// skipReason is why the lab cannot run here (not root, a binary missing), or empty.
	skipReason string
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "End-to-end Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(GinkgoLogr)
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(diagv1alpha1.AddToScheme(scheme))
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)

	bin, err := lab.FindBinDir()
	Expect(err).NotTo(HaveOccurred())
	repoRoot = filepath.Dir(bin)
	for _, m := range lab.Modes {
		if err := lab.Check(bin, m); err != nil {
			skipReason = err.Error()
			return
		}
	}

	lockLabs()

	// NETDIAG_BINARY lets `make demo` or a CI step hand over a binary it built already.
	if netdiagBinary = os.Getenv("NETDIAG_BINARY"); netdiagBinary != "" {
		return
	}
	netdiagBinary = filepath.Join(GinkgoT().TempDir(), "netdiag")
	build := exec.Command("go", "build", "-o", netdiagBinary, ".")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "build netdiag:\n%s", out)
})

// requireLab skips the calling container when the lab cannot run on this machine.
func requireLab() {
	if skipReason != "" {
		Skip("the lab cannot run here: " + skipReason)
	}
}

// lockLabs makes concurrent runs of the suite on one machine (two `make test` at once) take
// turns: their labs have the same names, and bringing one up sweeps the other's away. The
// lock goes with the process.
func lockLabs() {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "netdiag-e2e.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	Expect(err).NotTo(HaveOccurred())
	// Kept referenced: a collected *os.File closes its descriptor and drops the lock.
	labLock = f
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		return
	}
	GinkgoWriter.Println("Another end-to-end run holds the labs; waiting for it")
	Expect(syscall.Flock(int(f.Fd()), syscall.LOCK_EX)).To(Succeed())
}
