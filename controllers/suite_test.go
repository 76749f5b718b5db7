package controllers

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/test/shipped"
)

// The suite runs the reconciler in a real manager against a real etcd and kube-apiserver
// (envtest). There is no kubelet and no collector: the tests play both, moving collector
// pods through their phases and writing snapshots the way `netdiag collect` does.

const (
	controllerNamespace = "netdiag-system"
	collectorImage      = "registry.example/netdiag:test"
)

var (
	testEnv   *envtest.Environment
	cfg       *rest.Config
	k8sClient client.Client
	scheme    = newScheme()
	// fakeClock is the controller's clock: tests step it past timeouts and TTLs.
	fakeClock *clocktesting.FakeClock
	// stopManager stops the running manager and waits for it.
	stopManager func()
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controller Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(GinkgoLogr)
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	SetDefaultConsistentlyDuration(2 * time.Second)

	testEnv = newTestEnv(scheme)
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred(), "start envtest; run `make test` or hack/build-controlplane.sh to build etcd and kube-apiserver")
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	Expect(k8sClient.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controllerNamespace}})).To(Succeed())
	// What config/manager ships for collector pods: every collector the suite sees is
	// admitted under them, as in a cluster.
	for _, manifest := range []string{"priorityclass.yaml", "limitrange.yaml"} {
		createManifest(context.Background(), filepath.Join("..", "config", "manager", manifest), controllerNamespace)
	}

	// The API server writes its own kubernetes EndpointSlice a moment after it starts; the
	// manager's cache must hold it before the first collector is made, as in a cluster.
	kubernetesEndpoints(context.Background())

	fakeClock = clocktesting.NewFakeClock(time.Now())
	stopManager = startManager()
})

var _ = AfterSuite(func() {
	if stopManager != nil {
		stopManager()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// newScheme holds client-go's kinds and NetworkDiagnosis, all the suite and the benchmarks
// read and write.
func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(diagv1alpha1.AddToScheme(s))
	return s
}

// newTestEnv is etcd and kube-apiserver with the project's CRDs installed, as the suite and
// the benchmarks run them.
func newTestEnv(s *runtime.Scheme) *envtest.Environment {
	return &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: binaryAssets(),
		Scheme:                s,
		// A loaded machine may take a while to stop the API server; never leave it running.
		ControlPlaneStopTimeout: time.Minute,
	}
}

// binaryAssets is where etcd and kube-apiserver are: $KUBEBUILDER_ASSETS, else the
// binaries hack/build-controlplane.sh built.
func binaryAssets() string { return shipped.BinaryAssets("..") }

// createManifest creates the object of a one-object YAML file, in namespace if it is
// namespaced.
func createManifest(ctx context.Context, path, namespace string) client.Object {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	obj, _, err := serializer.NewCodecFactory(scheme).UniversalDeserializer().Decode(data, nil, nil)
	Expect(err).NotTo(HaveOccurred(), "decode %s", path)
	o := obj.(client.Object)
	if namespaced, err := k8sClient.IsObjectNamespaced(o); err == nil && namespaced {
		o.SetNamespace(namespace)
	}
	Expect(k8sClient.Create(ctx, o)).To(Succeed(), "create %s", path)
	return o
}

// startManager runs a new manager with a new reconciler, as a restarted controller pod
// would, and returns what stops it. configure changes the reconciler as the manager's
// flags would.
func startManager(configure ...func(*NetworkDiagnosisReconciler)) func() {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:     scheme,
		Cache:      CacheOptions(controllerNamespace),
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	r := &NetworkDiagnosisReconciler{
		Namespace:              controllerNamespace,
		CollectorImage:         collectorImage,
		Clock:                  fakeClock,
		CollectorPriorityClass: DefaultCollectorPriorityClass,
		Metrics:                suiteMetrics,
	}
	for _, c := range configure {
		c(r)
	}
	Expect(r.SetupWithManager(ctx, mgr)).To(Succeed())
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	return func() {
		cancel()
		<-done
	}
}
