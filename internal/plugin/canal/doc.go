// Package canal simulates canal, flannel's data plane with calico's policy, as the canal
// manifest (calico's manifests/canal.yaml, v3.30) and RKE2's rke2-canal chart lay it: one
// DaemonSet runs calico-node with CALICO_NETWORKING_BACKEND=none (felix alone, no BIRD, no
// IP pools of its own) and kube-flannel (flanneld --ip-masq --kube-subnet-mgr); the CNI
// configuration is calico's plugin with host-local IPAM over the node's spec.podCIDR. So
// pods are on calico's /32 veths (cali<hash>, 169.254.1.1 answered by proxy ARP) and felix
// walks their cali-* chains, while the packets between nodes take flannel's vxlan (or
// host-gw) routes and leave the cluster masqueraded by flannel's FLANNEL-POSTRTG.
//
// The plugin builds both halves from the flannel and calico plugins rather than copies of
// them: the node's hop is calico's (its explainers name the policy behind a drop in a cali-*
// chain), with an intent that asks calico about local pods and flannel about the rest.
package canal
