package kubectlcmd

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
)

// repoRoot is the repository's top directory, where config/ and bin/ are.
var repoRoot = filepath.Join("..", "..")

var (
	testEnv *envtest.Environment
	// admin reads and writes what the command under test cannot: status, as the controller.
	admin client.Client
	// kubeconfig is a file the command reads with --kubeconfig: context "envtest" (current,
	// no namespace) and context "shop", whose namespace is shop.
	kubeconfig string
)

// TestCommand runs the specs that drive the command against a real API server; the unit
// tests of the package run beside it.
func TestCommand(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "kubectl netdiag Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(GinkgoLogr)
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(diagv1alpha1.AddToScheme(scheme))

	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(repoRoot, "bin", "k8s", "current")
	}
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:       []string{filepath.Join(repoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing:   true,
		BinaryAssetsDirectory:   assets,
		Scheme:                  scheme,
		ControlPlaneStopTimeout: time.Minute,
	}
	cfg, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred(), "start envtest; run `make test` or hack/build-controlplane.sh to build etcd and kube-apiserver")
	admin, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	kubeconfig = writeKubeconfig(cfg)
})

var _ = AfterSuite(func() {
	if binPath != "" {
		_ = os.Remove(binPath)
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

func writeKubeconfig(cfg *rest.Config) string {
	GinkgoHelper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.Contexts["shop"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin", Namespace: "shop"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(clientcmd.WriteToFile(*kc, path)).To(Succeed())
	return path
}
