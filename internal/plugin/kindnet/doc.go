// Package kindnet simulates kindnet, the network plugin of every kind cluster, as kindnetd
// lays it in the release kind ships (kubernetes-sigs/kind images/kindnetd, image
// docker.io/kindest/kindnetd): pods on veths made by the CNI ptp plugin with host-local
// addresses from the node's spec.podCIDR (the host end holds the pod's gateway, the first
// address of the pod CIDR, as a /32, and a host-scope /32 route leads to each pod), one
// route per other node's pod CIDR via that node's InternalIP on the underlay (kindnetd
// replaces a route with another gateway every 10 seconds), the portmap plugin for hostPorts,
// and the nat chain KIND-MASQ-AGENT that POSTROUTING jumps to for non-local destinations,
// which returns for the cluster's pod subnet (POD_SUBNET) and masquerades the rest.
//
// That release is the one modelled because it is what `kind create cluster` installs; the
// standalone kindnet (aojea/kindnet, v1.x), with its own CNI plugin and nftables
// masquerade, lays a different data plane and is not simulated here. NetworkPolicy is
// enforced by kindnetd since its images of July 2024 (kind v0.24.0, image
// v20240813-c6f155d6), through kube-network-policies: an nftables table
// (kindnet-network-policies) queues the first packet of each connection of a pod with a
// policy to kindnetd, which decides in user space. A snapshot cannot show that decision, so
// the engine evaluates the NetworkPolicy objects; images before that release (kind v0.23
// and older) enforce nothing, and --kindnet-network-policy says which applies when the
// image does not.
package kindnet
