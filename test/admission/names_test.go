package admission

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// toName names the destination by a DNS name.
func (b *diagnosisBuilder) toName(name string, port int32) *diagnosisBuilder {
	b.nd.Spec.Destination.Name = name
	b.nd.Spec.Port = &port
	return b
}

var _ = Describe("A destination named by a DNS name", func() {
	needsService := func(ns, name string) string {
		return "it needs get on service " + ns + "/" + name + " (services in namespace " + ns + ", which " + viewGrant + "), or the cluster-scoped create on networkdiagnoses/nodes"
	}
	const noService = "it names no cluster service, so it needs the cluster-scoped create on networkdiagnoses/nodes"

	DescribeTable("is judged as the Service it may name, or as an address",
		func(ctx SpecContext, user, name string, refused []string) {
			err := as(user).Create(ctx, diagnosis("by-name", tenantNS).fromPod("", "web").toName(name, 5432).obj())
			if refused == nil {
				Expect(err).NotTo(HaveOccurred())
				return
			}
			Expect(err).To(refusal(append(refused, "user "+user+" may not name "+name+" as the destination", nodesGrant)...))
		},
		Entry("a Service of the creator's namespace by its short name", tenant, "db", nil),
		Entry("a Service of the creator's namespace with its namespace", tenant, "db."+tenantNS, nil),
		Entry("refused: a Service of another namespace", tenant, "db."+otherNS, []string{needsService(otherNS, "db")}),
		Entry("refused: another namespace's Service by its full name", tenant, "db."+otherNS+".svc.cluster.local",
			[]string{needsService(otherNS, "db")}),
		Entry("another namespace's Service the creator reads, by its full name", crossReader, "db."+otherNS+".svc.cluster.local", nil),
		Entry("a headless Service's per-pod name, with a final dot, the creator reads", crossReader, "web-0.db."+otherNS+".svc.cluster.local.", nil),
		Entry("refused: a per-pod name of a Service the creator may not get", tenant, "web-0.db."+otherNS+".svc.cluster.local",
			[]string{needsService(otherNS, "db")}),
		Entry("refused: a name outside the cluster", tenant, "www.example.com", []string{noService}),
		Entry("refused: two labels the creator may not read as a Service", tenant, "example.com", []string{needsService("com", "example")}),
		Entry("refused: a pod record, which names any address", tenant, "10-244-1-5."+tenantNS+".pod.cluster.local", []string{noService}),
		Entry("refused: another namespace's name, to a namespace admin", nsAdmin, "db."+otherNS, []string{needsService(otherNS, "db")}),
		Entry("a name outside the cluster, to a holder of netdiag-nodes bound cluster-wide", nodeViewer, "www.example.com", nil),
		Entry("another namespace's name, to a holder of netdiag-nodes bound cluster-wide", nodeViewer, "db."+otherNS, nil),
		Entry("refused: a name outside, to a holder of netdiag-nodes bound in the namespace only", nodeLocal, "www.example.com", []string{noService}),
	)

	DescribeTable("must be a DNS name, for everyone",
		func(ctx SpecContext, name, message string) {
			err := as(clusterRoot).Create(ctx, diagnosis("bad-name", tenantNS).fromPod("", "web").toName(name, 80).obj(), client.DryRunAll)
			Expect(err).To(invalid("spec.destination.name", message))
		},
		Entry("upper case and an underscore", "DB_1.example", "name must be a DNS name: lower-case labels"),
		Entry("an empty label", "db..data", "name must be a DNS name: lower-case labels"),
		Entry("a label of 64 characters", "a123456789012345678901234567890123456789012345678901234567890123.example", "at most 63 characters each"),
		Entry("an address", "10.0.0.1", "name must be a DNS name, not an address"),
	)

	It("cannot be named beside another destination", func(ctx SpecContext) {
		err := as(clusterRoot).Create(ctx, diagnosis("two", tenantNS).fromPod("", "web").toIP("10.0.0.1", 80).toName("db", 80).obj(), client.DryRunAll)
		Expect(err).To(invalid("spec.destination", "destination must name exactly one of pod, node, service, ip or name"))
	})
})
