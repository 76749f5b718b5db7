// Package cilium is cilium as netdiag can honestly diagnose it: cilium attaches eBPF
// programs to the host ends of its pod veths (lxc<hash>), to cilium_host, cilium_net and
// its tunnel devices (cilium_vxlan, cilium_geneve), and those programs route, translate and
// filter the packet themselves, out of the routes and netfilter rules a snapshot holds. So
// the packet is followed as the generic plugin follows it, through the node's real state,
// until it meets one of those devices; there the branch ends Undecided, with a suspicion
// that names the device, and the verdict is Unknown rather than a guess. What never meets
// them (node to node over the underlay, a host-network pod's traffic out of the cluster) is
// diagnosed as usual. RKE2's rke2-cilium and cilium's own Helm chart lay the same devices.
package cilium
