// Package service is the engine's Service processor: given a node's network state, the
// cluster's objects and a packet as it arrives at the node, it says where the node's service
// proxy really sends the packet (one branch per endpoint, with the translated packet and the
// rules that decided, in order) and where that differs from what the Service and its
// EndpointSlices ask for.
//
// The truth is the node's data plane: kube-proxy's iptables rules as iptables-save printed
// them, or its ipvs virtual servers. The Kubernetes objects only explain it: kube-proxy's
// chains (KUBE-SVC-, KUBE-SVL-, KUBE-EXT-, KUBE-FW-, KUBE-SEP-) are mapped back to their
// service port and endpoint by recomputing kube-proxy's chain-name hashes, which works even
// when kube-proxy leaves the comments out on large clusters. See docs/services.md.
package service
