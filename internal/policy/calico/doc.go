// Package calico is Calico's policy model: projectcalico.org/v3 NetworkPolicy and
// GlobalNetworkPolicy (read as stored in crd.projectcalico.org/v1, package crd), Kubernetes
// NetworkPolicies as Calico converts them (tier default, knp.default.<name>), tiers in
// their order, HostEndpoints, NetworkSets and GlobalNetworkSets, and the profiles Calico
// derives from namespaces and service accounts. For one packet at one endpoint and
// direction it returns what felix would do and who decided, named as Calico's flow logs
// name it (`<tier>|<ns>/<tier>.<name>|<action>|<rule>`), and the names of the iptables
// chains felix programs for each policy, so that the chains a node really holds can be
// told apart by the object they come from.
//
// The package is pure: it reads a cluster.Snapshot, never the API server or the kernel.
// docs/network-policy.md describes the semantics it implements.
package calico
