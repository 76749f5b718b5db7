package admission

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var _ = Describe("Addresses no traffic is diagnosed to or from", func() {
	// A cluster admin passes admission: what refuses here is the schema, for everyone.
	refusedIPs := []TableEntry{
		Entry("IPv4 loopback", "127.0.0.1", "is a loopback address"),
		Entry("IPv4 loopback, not the first", "127.1.2.3", "is a loopback address"),
		Entry("IPv6 loopback", "::1", "is a loopback address"),
		Entry("IPv4 unspecified", "0.0.0.0", "is the unspecified address"),
		Entry("IPv6 unspecified", "::", "is the unspecified address"),
		Entry("the cloud metadata service", "169.254.169.254", "is a link-local address"),
		Entry("IPv6 link-local", "fe80::1", "is a link-local address"),
		Entry("IPv4 multicast", "239.1.2.3", "is a multicast address"),
		Entry("IPv4 link-local multicast", "224.0.0.1", "is a multicast address"),
		Entry("IPv6 multicast", "ff02::1", "is a multicast address"),
		Entry("IPv4 broadcast", "255.255.255.255", "is the broadcast address"),
	}

	DescribeTable("refuses them as the destination, saying which kind",
		func(ctx SpecContext, ip, kind string) {
			err := as(clusterRoot).Create(ctx, diagnosis("dst-ip", tenantNS).fromPod("", "web").toIP(ip, 80).obj(), client.DryRunAll)
			Expect(err).To(invalid("spec.destination.ip", "ip "+ip+" "+kind))
		},
		refusedIPs,
	)

	DescribeTable("refuses them as the source, saying which kind",
		func(ctx SpecContext, ip, kind string) {
			err := as(clusterRoot).Create(ctx, diagnosis("src-ip", tenantNS).fromIP(ip).toPod("", "db", 80).obj(), client.DryRunAll)
			Expect(err).To(invalid("spec.source.ip", "ip "+ip+" "+kind))
		},
		refusedIPs,
	)

	DescribeTable("accepts unicast addresses, private ones included",
		func(ctx SpecContext, ip string) {
			Expect(as(clusterRoot).Create(ctx, diagnosis("unicast", tenantNS).fromIP(ip).toIP(ip, 80).obj(), client.DryRunAll)).To(Succeed())
		},
		Entry("a pod address", "10.244.1.5"),
		Entry("a node address", "192.168.1.10"),
		Entry("an address on the internet", "203.0.113.9"),
		Entry("a subnet's last address, which only its subnet knows as broadcast", "10.0.0.255"),
		Entry("IPv6 unique local", "fd00::10"),
		Entry("IPv6 global", "2001:db8::1"),
	)
})
