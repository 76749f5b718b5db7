// Package dnsname resolves a DNS name as a pod's resolver and the cluster DNS would: the
// candidates a resolver tries through its search path (resolv.conf as the kubelet writes it
// for the pod's dnsPolicy and dnsConfig), and the answers the Kubernetes DNS specification
// gives for names inside the cluster domain (Services, headless Services' per-pod names, pod
// A records, ExternalName aliases), read from the cluster snapshot. Names outside the cluster
// domain are left to the source's own resolver, which the collector asks.
package dnsname
