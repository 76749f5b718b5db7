package netstack

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// InterfaceByName returns the interface named name, or nil.
func (n *Netstack) InterfaceByName(name string) *Interface {
	if name == "" {
		return nil
	}
	for i := range n.Interfaces {
		if n.Interfaces[i].Name == name {
			return &n.Interfaces[i]
		}
	}
	return nil
}

// InterfaceByIndex returns the interface with ifindex idx, or nil.
func (n *Netstack) InterfaceByIndex(idx int) *Interface {
	for i := range n.Interfaces {
		if n.Interfaces[i].Index == idx {
			return &n.Interfaces[i]
		}
	}
	return nil
}

// InterfaceWithAddr returns the interface that holds address a, or nil.
func (n *Netstack) InterfaceWithAddr(a netip.Addr) *Interface {
	a = a.Unmap()
	for i := range n.Interfaces {
		for _, p := range n.Interfaces[i].Addresses {
			if p.Addr() == a {
				return &n.Interfaces[i]
			}
		}
	}
	return nil
}

// HasCarrier reports whether the interface is up with its lower layer up: a veth whose
// peer is down, or a device without a cable, is up but has no carrier ("linkdown" routes).
func (i *Interface) HasCarrier() bool {
	if !i.Up {
		return false
	}
	switch strings.ToLower(i.OperState) {
	case "down", "lowerlayerdown", "notpresent":
		return false
	}
	return true
}

// IsLocalAddr reports whether a is this namespace's own address, as the kernel decides it
// (inet_addr_type / __ip_dev_find): an address of any interface, up or down, or an address
// the local table routes as local (such as all of 127.0.0.0/8).
func (n *Netstack) IsLocalAddr(a netip.Addr) bool {
	return n.deviceOwning(a) != nil
}

// deviceOwning is __ip_dev_find: the interface holding a, else the device of the local
// table's local route for a; nil when a is not local.
func (n *Netstack) deviceOwning(a netip.Addr) *Interface {
	a = a.Unmap()
	if dev := n.InterfaceWithAddr(a); dev != nil {
		return dev
	}
	fr, rej := n.tableLookup(n.idx(), []int{TableLocal}, flow{dst: a, ignoreLinkState: true})
	if rej != RejectNone || fr.typ != RouteLocal {
		return nil
	}
	if dev := n.InterfaceByName(fr.nexthops[0].Device); dev != nil {
		return dev
	}
	return &Interface{Name: fr.nexthops[0].Device}
}

func (n *Netstack) isInterfaceAddr(a netip.Addr) bool { return n.InterfaceWithAddr(a) != nil }

// Sysctl returns the value under /proc/sys/net at key (e.g. "ipv4/ip_forward"), trimmed.
func (n *Netstack) Sysctl(key string) (string, bool) {
	v, ok := n.Sysctls[key]
	return strings.TrimSpace(v), ok
}

// sysctlInt reads an integer sysctl; ok is false when absent or not a number.
func (n *Netstack) sysctlInt(key string) (int, bool) {
	v, ok := n.Sysctl(key)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(v)
	return i, err == nil
}

// ipv4ConfDefaults are the kernel's defaults for the conf entries the lookup reads, used
// when the snapshot lacks them.
var ipv4ConfDefaults = map[string]int{"send_redirects": 1}

// IPv4Conf returns net.ipv4.conf.<dev>.<name>, falling back to the kernel default.
func (n *Netstack) IPv4Conf(dev, name string) int {
	if v, ok := n.sysctlInt("ipv4/conf/" + dev + "/" + name); ok {
		return v
	}
	return ipv4ConfDefaults[name]
}

// AnswersARP reports whether the namespace answers an ARP request for addr that arrives on
// dev: with proxy ARP on (conf/all or conf/dev) for any address; else for an address of dev
// itself; else, with arp_ignore 0 (the kernel's default; it takes the larger of conf/all and
// conf/dev), for an address of any of its interfaces.
func (n *Netstack) AnswersARP(dev string, addr netip.Addr) bool {
	if n.confOr(dev, "proxy_arp") {
		return true
	}
	if ifc := n.InterfaceByName(dev); ifc != nil && slices.ContainsFunc(ifc.Addresses, func(p netip.Prefix) bool { return p.Addr() == addr.Unmap() }) {
		return true
	}
	return max(n.IPv4Conf("all", "arp_ignore"), n.IPv4Conf(dev, "arp_ignore")) == 0 && n.InterfaceWithAddr(addr) != nil
}

// confOr is IN_DEV_ORCONF: the setting is on when conf/all or conf/<dev> is.
func (n *Netstack) confOr(dev, name string) bool {
	return n.IPv4Conf("all", name) != 0 || n.IPv4Conf(dev, name) != 0
}

// confAnd is IN_DEV_ANDCONF: on only when both conf/all and conf/<dev> are.
func (n *Netstack) confAnd(dev, name string) bool {
	return n.IPv4Conf("all", name) != 0 && n.IPv4Conf(dev, name) != 0
}

// RPFilter is the reverse path filter mode the kernel applies on dev: the maximum of
// conf/all/rp_filter and conf/<dev>/rp_filter (0 off, 1 strict, 2 loose).
func (n *Netstack) RPFilter(dev string) int {
	return max(n.IPv4Conf("all", "rp_filter"), n.IPv4Conf(dev, "rp_filter"))
}

// Forwarding reports whether IPv4 packets arriving on dev are forwarded. The kernel reads
// the input device's own conf/<dev>/forwarding (writing ip_forward sets it on every
// device); without it in the snapshot, ip_forward decides.
func (n *Netstack) Forwarding(dev string) bool {
	if v, ok := n.sysctlInt("ipv4/conf/" + dev + "/forwarding"); ok {
		return v != 0
	}
	if v, ok := n.sysctlInt("ipv4/ip_forward"); ok {
		return v != 0
	}
	v, _ := n.sysctlInt("ipv4/conf/all/forwarding")
	return v != 0
}

// BridgeNFCallIPTables reports whether bridged IPv4 traffic passes iptables; ok is false
// when the snapshot does not say (br_netfilter not loaded reads as absent).
func (n *Netstack) BridgeNFCallIPTables() (on, ok bool) {
	v, ok := n.sysctlInt("bridge/bridge-nf-call-iptables")
	return v != 0, ok
}

// Neighbour returns the neighbour entry for ip on dev (any device when dev is empty), or nil.
func (n *Netstack) Neighbour(dev string, ip netip.Addr) *Neighbour {
	ip = ip.Unmap()
	for i := range n.Neighbours {
		nb := &n.Neighbours[i]
		if nb.IP == ip && (dev == "" || nb.Device == dev) {
			return nb
		}
	}
	return nil
}

// Usable reports whether the entry resolves its address: not FAILED or INCOMPLETE, and
// with a hardware address (or NOARP, which needs none).
func (nb *Neighbour) Usable() bool {
	states := strings.Fields(strings.ToUpper(strings.ReplaceAll(nb.State, ",", " ")))
	for _, s := range states {
		switch s {
		case "FAILED", "INCOMPLETE":
			return false
		case "NOARP":
			return true
		}
	}
	return nb.HardwareAddr != ""
}

// FDBEntries returns the forwarding database entries for mac (compared case-insensitively) on
// dev: entries of the device itself (a vxlan's remote) or of ports whose master is dev
// (a bridge). An empty dev matches every device.
func (n *Netstack) FDBEntries(mac, dev string) []FDBEntry {
	var out []FDBEntry
	for _, e := range n.FDB {
		if !strings.EqualFold(e.HardwareAddr, mac) {
			continue
		}
		if dev == "" || e.Device == dev || e.Master == dev {
			out = append(out, e)
		}
	}
	return out
}

// EgressMTU is the largest packet the route lets out: the route's mtu lock when set, else
// the output interface's MTU; zero when unknown.
func (n *Netstack) EgressMTU(res RouteResult) int {
	mtu := 0
	if dev := n.InterfaceByName(res.Device); dev != nil {
		mtu = dev.MTU
	}
	if res.Route != nil && res.Route.MTU > 0 && (mtu == 0 || res.Route.MTU < mtu) {
		mtu = res.Route.MTU
	}
	return mtu
}

// Encapsulation overheads in bytes: what a tunnel adds to the inner packet, so the tunnel
// device's MTU plus this must fit the underlay's.
const (
	VXLANOverheadIPv4 = 50 // outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14
	VXLANOverheadIPv6 = 70
	IPIPOverhead      = 20
)

// TunnelOverhead is the bytes a tunnel interface adds to each packet; zero for others.
func (i *Interface) TunnelOverhead() int {
	switch {
	case i.VXLAN != nil:
		if i.VXLAN.Local.Is6() || i.VXLAN.Group.Is6() {
			return VXLANOverheadIPv6
		}
		return VXLANOverheadIPv4
	case i.IPIP != nil:
		return IPIPOverhead
	}
	return 0
}

// Namespaces lists the node's namespaces: the host's first, then the pods'.
func (s *NodeSnapshot) Namespaces() []*Netstack {
	out := []*Netstack{&s.Host}
	for i := range s.Pods {
		out = append(out, &s.Pods[i])
	}
	return out
}

// PodNetstack returns the namespace of pod namespace/name, or nil.
func (s *NodeSnapshot) PodNetstack(namespace, name string) *Netstack {
	for i := range s.Pods {
		if p := s.Pods[i].Pod; p != nil && p.Namespace == namespace && p.Name == name {
			return &s.Pods[i]
		}
	}
	return nil
}

// VethPeer finds the other end of veth ifc (in namespace ns) among the node's namespaces:
// the veth whose ifindex is ifc's peer index and whose peer index is ifc's own index. A
// peer in the same namespace (PeerNetNSID -1) is looked for there; otherwise the other
// namespaces are searched first. ok is false when the peer is not in the snapshot (a pod
// the diagnosis did not need, or a dangling veth).
func (s *NodeSnapshot) VethPeer(ns *Netstack, ifc *Interface) (peerNS *Netstack, peer *Interface, ok bool) {
	if ifc == nil || ifc.Veth == nil || ifc.Veth.PeerIndex == 0 {
		return nil, nil, false
	}
	match := func(cand *Netstack) *Interface {
		p := cand.InterfaceByIndex(ifc.Veth.PeerIndex)
		if p == nil || p.Veth == nil || p.Veth.PeerIndex != ifc.Index || (cand == ns && p == ifc) {
			return nil
		}
		return p
	}
	if ifc.Veth.PeerNetNSID < 0 {
		if p := match(ns); p != nil {
			return ns, p, true
		}
		return nil, nil, false
	}
	for _, cand := range s.Namespaces() {
		if cand == ns {
			continue
		}
		if p := match(cand); p != nil {
			return cand, p, true
		}
	}
	if p := match(ns); p != nil {
		return ns, p, true
	}
	return nil, nil, false
}

// PartError returns the error recorded for part, or nil when it was read.
func (n *Netstack) PartError(part string) *PartError {
	for i := range n.Errors {
		if n.Errors[i].Part == part {
			return &n.Errors[i]
		}
	}
	return nil
}
