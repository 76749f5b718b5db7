package model

import (
	"fmt"
	"net/netip"
)

// Protocol is the transport protocol of a packet.
type Protocol string

const (
	TCP  Protocol = "TCP"
	UDP  Protocol = "UDP"
	ICMP Protocol = "ICMP"
	// SCTP is followed like TCP and UDP (ports, NAT, policy); the probe cannot send it.
	SCTP Protocol = "SCTP"
)

// EndpointType says what an endpoint is.
type EndpointType string

const (
	EndpointPod      EndpointType = "Pod"
	EndpointNode     EndpointType = "Node"
	EndpointService  EndpointType = "Service"
	EndpointExternal EndpointType = "External"
)

// Endpoint is a source or destination of traffic, resolved to an address.
type Endpoint struct {
	Type EndpointType
	// Namespace and Name name the pod or service; Name alone names a node.
	Namespace string
	Name      string
	// Node is the node a pod runs on, or the node itself.
	Node string
	IP   netip.Addr
}

// String prints the endpoint as kind/name (address).
func (e Endpoint) String() string {
	switch e.Type {
	case EndpointPod, EndpointService:
		return fmt.Sprintf("%s/%s/%s (%s)", lower(e.Type), e.Namespace, e.Name, e.IP)
	case EndpointNode:
		return fmt.Sprintf("node/%s (%s)", e.Name, e.IP)
	default:
		return fmt.Sprintf("ip/%s", e.IP)
	}
}

func lower(t EndpointType) string {
	switch t {
	case EndpointPod:
		return "pod"
	case EndpointService:
		return "service"
	case EndpointNode:
		return "node"
	}
	return "ip"
}

// Question is what a diagnosis asks.
type Question struct {
	Source      Endpoint
	Destination Endpoint
	Protocol    Protocol
	// Port is the destination port; zero for ICMP.
	Port uint16
	// Size is the size in bytes of the IP packets asked about, header included; zero asks
	// about small packets, which every MTU lets through. For TCP it caps the full-size
	// segments the two ends' MSS allow.
	Size int
	// DontFragment is the DF bit of ICMP and UDP packets: a packet larger than an MTU on the
	// way is then dropped there instead of fragmented. TCP always sets it.
	DontFragment bool
}

// Packet is the packet as it travels, rewritten by NAT on the way.
type Packet struct {
	Src      netip.Addr
	Dst      netip.Addr
	Protocol Protocol
	SrcPort  uint16
	DstPort  uint16
	// Mark is the fwmark set by iptables MARK and read by policy routing.
	Mark uint32
}

// String prints the packet as "TCP 10.0.0.1:40000 -> 10.0.0.2:80".
func (p Packet) String() string {
	if p.Protocol == ICMP {
		return fmt.Sprintf("ICMP %s -> %s", p.Src, p.Dst)
	}
	return fmt.Sprintf("%s %s -> %s", p.Protocol, netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort))
}

// Reply is the packet the destination sends back.
func (p Packet) Reply() Packet {
	return Packet{Src: p.Dst, Dst: p.Src, Protocol: p.Protocol, SrcPort: p.DstPort, DstPort: p.SrcPort}
}

// NetNodeType says what a NetNode is.
type NetNodeType string

const (
	NetNodePod      NetNodeType = "Pod"
	NetNodeNode     NetNodeType = "Node"
	NetNodeService  NetNodeType = "Service"
	NetNodeExternal NetNodeType = "External"
)

// NetNode is a place with its own network stack that a packet passes: a pod's namespace, a
// node, or something outside the cluster. Services are NetNodes too, so that the path shows
// where a virtual address was translated.
type NetNode struct {
	ID   string
	Type NetNodeType
	// Name is namespace/name for pods and services, the name for nodes, the address for
	// external hosts.
	Name string
	// Node is the node a pod runs on.
	Node string
}

// LinkType is the kind of wire between two NetNodes.
type LinkType string

const (
	LinkVeth     LinkType = "veth"
	LinkBridge   LinkType = "bridge"
	LinkVXLAN    LinkType = "vxlan"
	LinkIPIP     LinkType = "ipip"
	LinkHost     LinkType = "host"
	LinkService  LinkType = "service"
	LinkExternal LinkType = "external"
	LinkLocal    LinkType = "local"
)

// Link is one step of a packet between two NetNodes.
type Link struct {
	Type          LinkType
	From, To      string // NetNode IDs
	FromInterface string
	ToInterface   string
	Packet        Packet
}

// Transmission is a packet on its way from a NetNode over a link to the next.
type Transmission struct {
	From   *NetNode
	To     *NetNode
	Link   Link
	Packet Packet
}

// NodeID, PodID, ServiceID and ExternalID build the NetNode IDs used in packet paths.
func NodeID(name string) string               { return "node/" + name }
func PodID(namespace, name string) string     { return "pod/" + namespace + "/" + name }
func ServiceID(namespace, name string) string { return "service/" + namespace + "/" + name }
func ExternalID(ip netip.Addr) string         { return "external/" + ip.String() }
