package admission

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"

	shippedpkg "github.com/netdiag/netdiag/test/shipped"
)

// repoRoot is the repository's top directory, where config/ and bin/ are.
var repoRoot = filepath.Join("..", "..")

var (
	testEnv *envtest.Environment
	cfg     *rest.Config
	// admin is the envtest user, in system:masters.
	admin  client.Client
	scheme = runtime.NewScheme()
	// stopControllerManager stops the kube-controller-manager the suite runs.
	stopControllerManager func()
)

func TestAdmission(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Admission Suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	logf.SetLogger(GinkgoLogr)
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(diagv1alpha1.AddToScheme(scheme))

	testEnv = &envtest.Environment{
		CRDDirectoryPaths:       []string{filepath.Join(repoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing:   true,
		BinaryAssetsDirectory:   binaryAssets(),
		Scheme:                  scheme,
		ControlPlaneStopTimeout: time.Minute,
	}
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred(), "start envtest; run `make test` or hack/build-controlplane.sh to build etcd and kube-apiserver")
	admin, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	// config/rbac's Role and ServiceAccount live in the controller's namespace.
	Expect(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "netdiag-system"}})).To(Succeed())
	for _, dir := range []string{"rbac", "admission"} {
		for _, obj := range shipped(dir) {
			Expect(admin.Create(ctx, obj)).To(Succeed(), "apply %s %s from config/%s", obj.GetKind(), obj.GetName(), dir)
		}
	}
	stopControllerManager = startControllerManager()
	waitForAggregation(ctx)
	setUpTenants(ctx)
	waitForPolicy(ctx)
})

var _ = AfterSuite(func() {
	if stopControllerManager != nil {
		stopControllerManager()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// as is a client that acts as the user, in the groups the user has (groupsOf) and those
// every authenticated user has.
func as(user string) client.Client {
	GinkgoHelper()
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: append(groupsOf[user], "system:authenticated")}
	cl, err := client.New(c, client.Options{Scheme: scheme, Mapper: admin.RESTMapper()})
	Expect(err).NotTo(HaveOccurred())
	return cl
}

// waitForAggregation waits, bounded, until the controller manager has aggregated the shipped
// roles into the built-in ones.
func waitForAggregation(ctx context.Context) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		for _, role := range []string{"admin", "edit", "view"} {
			cr := &rbacv1.ClusterRole{}
			g.Expect(admin.Get(ctx, client.ObjectKey{Name: role}, cr)).To(Succeed())
			g.Expect(cr.Rules).To(ContainElement(HaveField("APIGroups", ContainElement(diagv1alpha1.GroupVersion.Group))), "the built-in %s", role)
		}
	}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed(), "kube-controller-manager never aggregated the shipped roles")
}

// waitForPolicy waits until the API server enforces the new policy (about two seconds after
// it is created), bounded: a user without node rights naming a node is refused.
func waitForPolicy(ctx context.Context) {
	GinkgoHelper()
	probe := diagnosis("policy-enforced", tenantNS).fromNode("node-1").toPod("", "db", 5432).obj()
	Eventually(func() error {
		return as(tenant).Create(ctx, probe.DeepCopy(), client.DryRunAll)
	}).WithContext(ctx).WithTimeout(30*time.Second).Should(Satisfy(apierrors.IsForbidden), "the policy of config/admission is never enforced")
}

// refusal matches an admission refusal (403 Forbidden) whose message has every part.
func refusal(parts ...string) OmegaMatcher {
	ms := []OmegaMatcher{Satisfy(apierrors.IsForbidden)}
	for _, p := range parts {
		ms = append(ms, MatchError(ContainSubstring(p)))
	}
	return And(ms...)
}

// invalid matches a schema refusal (422 Invalid) naming the field and the message.
func invalid(field, message string) OmegaMatcher {
	return And(Satisfy(apierrors.IsInvalid), MatchError(ContainSubstring(field)), MatchError(ContainSubstring(message)))
}

// shipped reads the objects config/<dir> ships, failing the spec when it cannot.
func shipped(dir string) []*unstructured.Unstructured {
	GinkgoHelper()
	objs, err := shippedpkg.Objects(repoRoot, dir)
	Expect(err).NotTo(HaveOccurred())
	return objs
}

func binaryAssets() string { return shippedpkg.BinaryAssets(repoRoot) }
