package kindnettest

import (
	"net/netip"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/fixture/flowtest"
	"github.com/netdiag/netdiag/internal/netstack"
)

// TwoNodes is the flow tests' workload (flowtest.TwoNodes) on two kindnet nodes: client and
// web-0 on node-0 (pod CIDR 10.244.0.0/24, InternalIP 172.18.1.2), web-1 and db
// (10.244.1.11) on node-1 (10.244.1.0/24, 172.18.1.3).
func TwoNodes() *fixture.Cluster {
	return Relay(flowtest.TwoNodes(fixture.NewFlannel(fixture.HostGW, 2)))
}

// Relay lays out a built flannel host-gw cluster again as kindnet does: the objects, the
// addresses and kube-proxy's rules stay; flannel's DaemonSet, annotations, bridge and
// rules give way to kindnet's. (Host-gw routes each peer's pod CIDR via its address, which
// is kindnetd's route too.)
func Relay(c *fixture.Cluster) *fixture.Cluster {
	s := c.Snapshot
	s.DaemonSets = slices.DeleteFunc(s.DaemonSets, func(ds appsv1.DaemonSet) bool { return strings.Contains(ds.Name, "flannel") })
	s.DaemonSets = append(s.DaemonSets, DaemonSet(Image, fixture.ClusterCIDR))
	s.Namespaces = slices.DeleteFunc(s.Namespaces, func(ns corev1.Namespace) bool { return ns.Name == "kube-flannel" })
	var nodes []Node
	for i := range s.Nodes {
		for k := range s.Nodes[i].Annotations {
			if strings.HasPrefix(k, "flannel.alpha.coreos.com/") {
				delete(s.Nodes[i].Annotations, k)
			}
		}
		nodes = append(nodes, layoutOf(c, s, i))
	}
	chains, rules := MasqRules(fixture.ClusterCIDR)
	for _, n := range nodes {
		snap := c.Nodes[n.Name]
		save := withNATRules(withoutFlannel(snap.Host.IPTables), chains, rules)
		snap.Host = HostState(n, nodes, save)
		snap.Pods = snap.Pods[:0]
		for _, p := range n.Pods {
			snap.Pods = append(snap.Pods, PodState(p, n))
		}
	}
	return c
}

// layoutOf reads node i of a built cluster: its addresses, its underlay and its pods with
// the host ends of their veths.
func layoutOf(c *fixture.Cluster, s *cluster.Snapshot, i int) Node {
	obj := &s.Nodes[i]
	snap := c.Nodes[obj.Name]
	n := Node{Name: obj.Name, PodCIDR: netip.MustParsePrefix(obj.Spec.PodCIDR)}
	n.IP, _ = cluster.NodeInternalIP(obj)
	if u := snap.Host.InterfaceWithAddr(n.IP); u != nil {
		n.Underlay = *u
	}
	for _, ps := range snap.Pods {
		eth0 := ps.InterfaceByName("eth0")
		if ps.Pod == nil || eth0 == nil || eth0.Veth == nil {
			continue
		}
		p := Pod{Namespace: ps.Pod.Namespace, Name: ps.Pod.Name, IP: ps.Pod.IP, HostIndex: eth0.Veth.PeerIndex, Listening: ps.Listening}
		if v := snap.Host.InterfaceByIndex(p.HostIndex); v != nil {
			p.HostVeth, p.HostMAC = v.Name, v.HardwareAddr
		}
		n.Pods = append(n.Pods, p)
	}
	return n
}

// withoutFlannel drops flanneld's chains and rules from an iptables-save text.
func withoutFlannel(save string) string {
	lines := strings.Split(save, "\n")
	lines = slices.DeleteFunc(lines, func(l string) bool { return strings.Contains(l, "FLANNEL") })
	return strings.Join(lines, "\n")
}

// withNATRules declares chains at the top of the nat table and appends rules (the text after
// "-A ") at its end.
func withNATRules(save string, chains, rules []string) string {
	var out []string
	inNAT := false
	for _, l := range strings.Split(save, "\n") {
		switch {
		case l == "*nat":
			inNAT = true
			out = append(out, l)
			for _, c := range chains {
				out = append(out, ":"+c+" - [0:0]")
			}
			continue
		case inNAT && l == "COMMIT":
			inNAT = false
			for _, r := range rules {
				out = append(out, "-A "+r)
			}
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// HostVeth is the host end of a built pod's veth.
func HostVeth(c *fixture.Cluster, node, namespace, name string) *netstack.Interface {
	ps := c.PodStack(namespace, name)
	if ps == nil {
		return nil
	}
	eth0 := ps.InterfaceByName("eth0")
	if eth0 == nil || eth0.Veth == nil {
		return nil
	}
	return c.Host(node).InterfaceByIndex(eth0.Veth.PeerIndex)
}
