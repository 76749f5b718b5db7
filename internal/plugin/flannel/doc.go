// Package flannel is the flannel network plugin: pods on the cni0 bridge, and between
// nodes either a vxlan tunnel (flannel.1, one route per remote node's subnet through the
// remote VTEP, with permanent neighbour and fdb entries) or host-gw (one route per remote
// subnet through the remote node's address). It checks what only flannel knows: the MTU its
// backend needs on this node's real devices, and the masquerade it installs for traffic that
// leaves the cluster. Flannel does not enforce NetworkPolicy.
package flannel
