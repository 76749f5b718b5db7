package collectoradmission

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"
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

// binaryAssets is where etcd and kube-apiserver are: $KUBEBUILDER_ASSETS, else the binaries
// hack/build-controlplane.sh built.
func binaryAssets() string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	return filepath.Join("..", "..", "bin", "k8s", "current")
}

// shipped reads the objects config/<dir> ships, in the order its kustomization lists its
// files, so that the specs judge the YAML a cluster would get.
func shipped(dir string) []*unstructured.Unstructured {
	GinkgoHelper()
	base := filepath.Join("..", "..", "config", dir)
	raw, err := os.ReadFile(filepath.Join(base, "kustomization.yaml"))
	Expect(err).NotTo(HaveOccurred())
	var k struct {
		Resources []string `json:"resources"`
	}
	Expect(yaml.Unmarshal(raw, &k)).To(Succeed(), "config/%s/kustomization.yaml", dir)
	var objs []*unstructured.Unstructured
	for _, res := range k.Resources {
		path := filepath.Join(base, res)
		data, err := os.ReadFile(path)
		Expect(err).NotTo(HaveOccurred(), "config/%s lists %s: only files are read", dir, res)
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for i := 0; ; i++ {
			Expect(i).To(BeNumerically("<", 100), "%s holds more than 100 objects", path)
			var u unstructured.Unstructured
			err := dec.Decode(&u.Object)
			if errors.Is(err, io.EOF) {
				break
			}
			Expect(err).NotTo(HaveOccurred(), fmt.Sprintf("decode %s", path))
			if len(u.Object) > 0 {
				objs = append(objs, &u)
			}
		}
	}
	Expect(objs).NotTo(BeEmpty(), "config/%s ships nothing", dir)
	return objs
}
