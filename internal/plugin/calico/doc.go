// Package calico simulates calico's data plane: pods on /32 veths (cali<hash> in the host,
// proxy ARP answering the pod's 169.254.1.1 gateway), one route per local pod, a blackhole
// for each of the node's IPAM blocks, and the peers' blocks routed directly (BGP), over
// vxlan.calico or over the IP-in-IP device tunl0. Felix's cali-* iptables chains are walked
// by the shared evaluator; calico enforces NetworkPolicy.
package calico
