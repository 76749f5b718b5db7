// Package flanneltest builds test clusters in flannel's layout, as flanneld and the flannel
// CNI lay them (the cni0 bridge, flannel.1 for vxlan, one route per peer's subnet), from the
// flannel plugin's own constants, on the generic builder of internal/fixture.
package flanneltest
