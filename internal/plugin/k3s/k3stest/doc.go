// Package k3stest builds test clusters in k3s's layout: flannel's data plane from
// flanneltest, the nodes labelled and annotated as k3s writes them, no network DaemonSet,
// and kube-router's NetworkPolicy chains in each node's filter table as its netpol
// controller writes them (kube-router v2.1.0, pkg/controllers/netpol), on the generic
// builder of internal/fixture.
package k3stest
