package admission

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var _ = Describe("The shipped roles", func() {
	// envtest runs no kube-controller-manager, so nothing fills the built-in roles in; their
	// aggregation selectors are real, though, and say what a cluster would aggregate.
	It("add diagnosing to admin and edit, viewing to view, and the probe and nodes rights to none", func(ctx SpecContext) {
		var names []string
		roles := map[string]labels.Set{}
		for _, obj := range shipped("rbac") {
			if obj.GetKind() == "ClusterRole" {
				names = append(names, obj.GetName())
				roles[obj.GetName()] = obj.GetLabels()
			}
		}
		Expect(names).To(ContainElements(editorRole, "netdiag-networkdiagnosis-viewer", probeRole, nodesRole))

		aggregated := func(builtin string) []string {
			GinkgoHelper()
			cr := &rbacv1.ClusterRole{}
			Expect(admin.Get(ctx, client.ObjectKey{Name: builtin}, cr)).To(Succeed())
			Expect(cr.AggregationRule).NotTo(BeNil(), "the built-in %s ClusterRole aggregates", builtin)
			var into []string
			for _, name := range names {
				for _, sel := range cr.AggregationRule.ClusterRoleSelectors {
					s, err := metav1.LabelSelectorAsSelector(&sel)
					Expect(err).NotTo(HaveOccurred())
					if s.Matches(roles[name]) {
						into = append(into, name)
						break
					}
				}
			}
			return into
		}
		Expect(aggregated("admin")).To(ConsistOf(editorRole))
		Expect(aggregated("edit")).To(ConsistOf(editorRole))
		Expect(aggregated("view")).To(ConsistOf("netdiag-networkdiagnosis-viewer"))
	})
})
