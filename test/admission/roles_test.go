package admission

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
)

var _ = Describe("The shipped roles", func() {
	// The controller manager aggregated them into the built-in roles by their labels, as in a
	// real cluster; the API server's own authorizer says what each binding then allows.
	DescribeTable("give the built-in roles diagnosing and viewing, never the probe or nodes rights",
		func(ctx SpecContext, user, resource, verb string, allowed bool) {
			namespace := tenantNS
			if resource == "networkdiagnoses/nodes" {
				namespace = ""
			}
			res, sub := resource, ""
			if i := len("networkdiagnoses"); len(resource) > i {
				res, sub = resource[:i], resource[i+1:]
			}
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: user, Groups: []string{"system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Group: diagv1alpha1.GroupVersion.Group, Resource: res, Subresource: sub, Verb: verb, Namespace: namespace,
				},
			}}
			Expect(admin.Create(ctx, sar)).To(Succeed())
			Expect(sar.Status.Allowed).To(Equal(allowed), "%s %s %s: %+v", user, verb, resource, sar.Status)
		},
		Entry("admin creates diagnoses", nsAdmin, "networkdiagnoses", "create", true),
		Entry("admin deletes them", nsAdmin, "networkdiagnoses", "delete", true),
		Entry("admin may not probe", nsAdmin, "networkdiagnoses/probe", "create", false),
		Entry("admin may not name nodes", nsAdmin, "networkdiagnoses/nodes", "create", false),
		Entry("edit creates diagnoses", tenant, "networkdiagnoses", "create", true),
		Entry("edit updates them", tenant, "networkdiagnoses", "update", true),
		Entry("edit may not probe", tenant, "networkdiagnoses/probe", "create", false),
		Entry("edit may not name nodes", tenant, "networkdiagnoses/nodes", "create", false),
		Entry("view lists diagnoses", viewer, "networkdiagnoses", "list", true),
		Entry("view reads their status", viewer, "networkdiagnoses/status", "get", true),
		Entry("view may not create them", viewer, "networkdiagnoses", "create", false),
		Entry("netdiag-probe bound in the namespace probes there", prober, "networkdiagnoses/probe", "create", true),
		Entry("netdiag-nodes bound cluster-wide names nodes", nodeViewer, "networkdiagnoses/nodes", "create", true),
		Entry("netdiag-nodes bound in a namespace does not name nodes", nodeLocal, "networkdiagnoses/nodes", "create", false),
	)
})
