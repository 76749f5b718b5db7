// Package policy evaluates Kubernetes networking/v1 NetworkPolicy exactly as the API
// specifies it: for one packet (source, destination, protocol, port) it decides egress at the
// source and ingress at the destination, and names the policies and rules that allowed the
// traffic, or the policies that isolated the pod when nothing allowed it. The
// network-policy-api's AdminNetworkPolicy, BaselineAdminNetworkPolicy and ClusterNetworkPolicy
// decide in their tiers around it (admin.go), naming the rule that decided.
//
// The package is pure: it reads a cluster.Snapshot and never the API server or the kernel.
// docs/network-policy.md describes the semantics it implements.
package policy
