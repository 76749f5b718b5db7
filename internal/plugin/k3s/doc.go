// Package k3s simulates k3s's own network, as a k3s server or agent lays it (k3s v1.31+):
// flannel embedded in the k3s binary (no DaemonSet; vxlan by default, --flannel-backend
// host-gw), its pods on the cni0 bridge through k3s's bundled flannel CNI, and NetworkPolicy
// enforced by kube-router's netpol controller (github.com/cloudnativelabs/kube-router/v2
// pkg/controllers/netpol), which k3s also embeds unless it runs with
// --disable-network-policy. The data plane is flannel's, so the flannel plugin simulates it;
// this package adds what kube-router's chains mean.
//
// Kube-router lays, in the filter table: INPUT, FORWARD and OUTPUT jumping first to
// KUBE-ROUTER-INPUT, KUBE-ROUTER-FORWARD and KUBE-ROUTER-OUTPUT; from those, one jump per
// local pod, by its address, to its KUBE-POD-FW-<hash> chain; there, the jumps to the
// KUBE-NWPLCY-<hash> chain of each policy that selects the pod (or KUBE-NWPLCY-DEFAULT,
// which marks everything, in a direction no policy selects), which mark (0x10000) what the
// policy allows, matching peers through the KUBE-SRC-*/KUBE-DST-* ipsets; and at the end of
// the pod's chain a REJECT of what no policy marked. The hashes change with every sync, so
// the chains are read by their comments, which name the pod and the policy.
//
// A k3s cluster shows itself only on its nodes: k3s's labels (node.kubernetes.io/instance-
// type=k3s) and annotations (k3s.io/*), with flannel's (flannel.alpha.coreos.com/*).
package k3s
