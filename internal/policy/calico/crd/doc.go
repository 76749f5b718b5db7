// Package crd holds Calico's objects as the cluster stores them in crd.projectcalico.org/v1
// (the projectcalico.org/v3 API's storage, which is what a cluster without Calico's API
// server serves): Tier, NetworkPolicy, GlobalNetworkPolicy, HostEndpoint, NetworkSet and
// GlobalNetworkSet. The types keep only the fields the policy model reads, and decode from
// the stored JSON or an unstructured object.
package crd
