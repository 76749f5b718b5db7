package controllers

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/serializer/yaml"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/netdiag/netdiag/internal/cluster"
)

// The network-policy-api's objects reach the snapshot through the manager's cache, in the
// versions the cluster serves, once their CRDs exist (the CRDs of the project's releases:
// v0.1.8 for AdminNetworkPolicy and BaselineAdminNetworkPolicy, v0.3.0 for
// ClusterNetworkPolicy); before, the snapshot simply has none.
var _ = Describe("The network-policy-api's policies in the cluster snapshot", Ordered, func() {
	var (
		ctx    context.Context
		cancel context.CancelFunc
		reader client.Client
	)
	BeforeAll(func() {
		ctx, cancel = context.WithCancel(context.Background())
		DeferCleanup(func() { cancel() })
		informers, err := cache.New(cfg, cache.Options{Scheme: scheme, DefaultTransform: stripObject})
		Expect(err).NotTo(HaveOccurred())
		go func() { _ = informers.Start(ctx) }()
		opts := ClientOptions()
		opts.Scheme = scheme
		opts.Cache.Reader = informers
		reader, err = client.New(cfg, opts)
		Expect(err).NotTo(HaveOccurred())
	})

	It("has none while the CRDs are not installed, and no error", func() {
		got, err := adminPolicies(ctx, reader)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Any()).To(BeFalse())
	})

	It("reads each kind from the cache once its CRD is installed", func() {
		_, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{filepath.Join("testdata", "npapi-crds")}, ErrorIfPathMissing: true})
		Expect(err).NotTo(HaveOccurred())
		npapi := filepath.Join("..", "internal", "policy", "testdata", "npapi")
		for _, m := range []string{
			"v0.1.8/base/admin_network_policy/standard-ingress-tcp-rules.yaml",
			"v0.1.8/base/baseline_admin_network_policy/standard-ingress-tcp-rules.yaml",
			"v0.3.0/base/admin_tier/standard-egress-udp-rules.yaml",
		} {
			createUnstructured(ctx, filepath.Join(npapi, m))
		}
		var got cluster.AdminPolicies
		Eventually(func(g Gomega) {
			var err error
			got, err = adminPolicies(ctx, reader)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got.AdminNetworkPolicies).To(HaveLen(1))
			g.Expect(got.BaselineAdminNetworkPolicies).To(HaveLen(1))
			g.Expect(got.ClusterNetworkPolicies).To(HaveLen(1))
		}).Should(Succeed())
		anp := got.AdminNetworkPolicies[0]
		Expect(anp.Name).To(Equal("ingress-tcp"))
		Expect(anp.Spec.Priority).To(BeEquivalentTo(3))
		Expect(anp.Spec.Ingress[0].Action).To(Equal("Allow"))
		Expect(anp.Spec.Ingress[3].Ports).NotTo(BeNil())
		Expect((*anp.Spec.Ingress[3].Ports)[0].PortNumber.Port).To(BeEquivalentTo(80))
		Expect(got.BaselineAdminNetworkPolicies[0].Name).To(Equal("default"))
		cnp := got.ClusterNetworkPolicies[0]
		Expect(cnp.Name).To(Equal("egress-udp"))
		Expect(cnp.Spec.Tier).To(Equal("Admin"))
		Expect(cnp.Spec.Egress[3].Protocols[0].UDP.DestinationPort.Number).To(BeEquivalentTo(5353))
		Expect(cnp.ManagedFields).To(BeEmpty(), "the cache strips what the engine never reads")
	})
})

// createUnstructured creates every object of a manifest as an unstructured object.
func createUnstructured(ctx context.Context, path string) {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	for _, doc := range strings.Split(string(data), "\n---") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		u := &unstructured.Unstructured{}
		_, _, err := yaml.NewDecodingSerializer(unstructured.UnstructuredJSONScheme).Decode([]byte(doc), nil, u)
		Expect(err).NotTo(HaveOccurred(), "decode %s", path)
		Expect(k8sClient.Create(ctx, u)).To(Succeed(), "create %s %s", u.GetKind(), u.GetName())
	}
}
