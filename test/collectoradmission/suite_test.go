package collectoradmission

import (
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	shippedpkg "github.com/netdiag/netdiag/test/shipped"
)

// namespace is where config/collector installs, as `make install` and config/default do.
const namespace = "netdiag-system"

var (
	testEnv *envtest.Environment
	cfg     *rest.Config
	// admin is the envtest user, in system:masters.
	admin client.Client
)

func TestCollectorAdmission(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Collector Admission Suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	logf.SetLogger(GinkgoLogr)
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
	testEnv = &envtest.Environment{BinaryAssetsDirectory: binaryAssets(), ControlPlaneStopTimeout: time.Minute}
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred(), "start envtest; run `make test` or hack/build-controlplane.sh to build etcd and kube-apiserver")
	admin, err = client.New(cfg, client.Options{Scheme: scheme.Scheme})
	Expect(err).NotTo(HaveOccurred())

	Expect(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})).To(Succeed())
	for _, obj := range shipped("collector") {
		if obj.GetNamespace() == "" && obj.GetKind() != "ValidatingAdmissionPolicy" && obj.GetKind() != "ValidatingAdmissionPolicyBinding" {
			obj.SetNamespace(namespace)
		}
		Expect(admin.Create(ctx, obj)).To(Succeed(), "apply %s %s from config/collector", obj.GetKind(), obj.GetName())
	}
})

var _ = AfterSuite(func() {
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// shipped reads the objects config/<dir> ships, failing the spec when it cannot.
func shipped(dir string) []*unstructured.Unstructured {
	GinkgoHelper()
	objs, err := shippedpkg.Objects(filepath.Join("..", ".."), dir)
	Expect(err).NotTo(HaveOccurred())
	return objs
}

func binaryAssets() string { return shippedpkg.BinaryAssets(filepath.Join("..", "..")) }
