package nf

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/netdiag/netdiag/internal/model"
)

// IP protocol numbers the rules name.
const (
	ProtoICMP   uint8 = 1
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoSCTP   uint8 = 132
	ProtoICMPv6 uint8 = 58
	// ProtoIPEncap is IP in IP (RFC 2003), named ipencap in /etc/protocols; ProtoIPIP is
	// protocol 94, which /etc/protocols names ipip.
	ProtoIPEncap uint8 = 4
	ProtoIPIP    uint8 = 94
)

// TCP flag bits as the tcp match names them.
const (
	TCPFin uint8 = 1 << iota
	TCPSyn
	TCPRst
	TCPPsh
	TCPAck
	TCPUrg
	TCPEce
	TCPCwr
)

// CtState is a connection's conntrack state as the conntrack match sees it.
type CtState uint8

const (
	// CtNew is the first packet of a connection: the nat table sees only these.
	CtNew CtState = iota
	CtEstablished
	CtRelated
	CtInvalid
	CtUntracked
)

// CtStatus holds conntrack status bits.
type CtStatus uint16

const (
	// StatusSNAT and StatusDNAT are set once a NAT rule changed the source or destination.
	StatusSNAT CtStatus = 1 << iota
	StatusDNAT
	StatusSeenReply
	StatusAssured
	StatusConfirmed
	StatusExpected
	// StatusSrcNATDone and StatusDstNATDone say that the nat table has been consulted for
	// the source (POSTROUTING, INPUT) or destination (PREROUTING, OUTPUT): it is not again,
	// so a locally delivered packet that passed POSTROUTING skips nat INPUT.
	StatusSrcNATDone
	StatusDstNATDone
)

// Conn is the conntrack entry a packet belongs to.
type Conn struct {
	State  CtState
	Status CtStatus
	// Mark is the connection mark (CONNMARK, -m connmark, ct mark).
	Mark uint32
	// Reply is set for a packet in the reply direction (--ctdir REPLY).
	Reply bool
	// OrigSrc and OrigDst are the original direction's addresses before any NAT; zero means
	// the packet's own (nothing rewritten yet).
	OrigSrc, OrigDst netip.AddrPort
}

// Packet is a packet as netfilter sees it at a hook: its headers, its marks, the
// interfaces it came in by and goes out by, and its connection.
type Packet struct {
	Src, Dst netip.Addr
	// Proto is the IP protocol number (ProtoTCP, ProtoUDP, ProtoICMP, ...).
	Proto            uint8
	SrcPort, DstPort uint16
	// ICMPType and ICMPCode are set for ICMP.
	ICMPType, ICMPCode uint8
	// TCPFlags are the TCP header's flags; FromModel sets SYN for a new TCP connection.
	TCPFlags uint8
	// Fragment is set for a second or later fragment (-f).
	Fragment bool
	Mark     uint32
	// In is the input interface (PREROUTING, INPUT, FORWARD), Out the output interface
	// (FORWARD, OUTPUT, POSTROUTING).
	In, Out string
	// PhysIn and PhysOut are the bridge ports of a bridged packet (physdev), Bridged says
	// whether the bridge forwards it.
	PhysIn, PhysOut string
	Bridged         bool
	// NextHop is the gateway the route chose; MASQUERADE picks the out interface's address
	// in the gateway's subnet, as the kernel does.
	NextHop netip.Addr
	Conn    Conn
}

// FromModel makes the first packet of a new connection from the engine's packet. ICMP is
// an echo request; TCP carries SYN.
func FromModel(p model.Packet) Packet {
	out := Packet{Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort, Mark: p.Mark}
	switch p.Protocol {
	case model.TCP:
		out.Proto, out.TCPFlags = ProtoTCP, TCPSyn
	case model.UDP:
		out.Proto = ProtoUDP
	case model.ICMP:
		out.Proto, out.ICMPType = ProtoICMP, 8
		out.SrcPort, out.DstPort = 0, 0
	default:
		out.Proto, _ = ProtoNumber(strings.ToLower(string(p.Protocol)))
	}
	return out
}

// Model returns the engine's view of the packet.
func (p Packet) Model() model.Packet {
	var proto model.Protocol
	switch p.Proto {
	case ProtoTCP:
		proto = model.TCP
	case ProtoUDP:
		proto = model.UDP
	case ProtoICMP:
		proto = model.ICMP
	default:
		proto = model.Protocol(strings.ToUpper(ProtoName(p.Proto)))
	}
	return model.Packet{Src: p.Src, Dst: p.Dst, Protocol: proto, SrcPort: p.SrcPort, DstPort: p.DstPort, Mark: p.Mark}
}

// Reply returns the first reply packet of the connection p belongs to, as the destination
// sends it (before conntrack undoes the NAT): source and destination swapped, state
// ESTABLISHED in the reply direction, the NAT status kept. Interfaces and the skb mark are
// cleared; the connection mark stays.
func (p Packet) Reply() Packet {
	r := Packet{Src: p.Dst, Dst: p.Src, Proto: p.Proto, SrcPort: p.DstPort, DstPort: p.SrcPort, Conn: p.Conn}
	switch p.Proto {
	case ProtoTCP:
		r.TCPFlags = TCPSyn | TCPAck
	case ProtoICMP:
		r.ICMPType = 0
	}
	r.Conn.State = CtEstablished
	r.Conn.Reply = true
	r.Conn.Status |= StatusSeenReply | StatusConfirmed
	return r
}

// protoNames are the names iptables-save prints for IP protocols: /etc/protocols' names, which
// it looks up first. There IP protocol 4 (IP in IP, what tunl0 and calico's IP-in-IP send) is
// "ipencap", and "ipip" is 94 (IPIP, the older KA9Q encapsulation): a rule loaded with -p 4
// is saved as -p ipencap, one with -p ipip as -p ipip and means protocol 94.
var protoNames = map[string]uint8{
	"all": 0, "icmp": ProtoICMP, "igmp": 2, "ipencap": ProtoIPEncap, "ipip": ProtoIPIP, "tcp": ProtoTCP, "udp": ProtoUDP,
	"gre": 47, "esp": 50, "ah": 51, "icmpv6": ProtoICMPv6, "ipv6-icmp": ProtoICMPv6, "sctp": ProtoSCTP,
	"udplite": 136, "vrrp": 112,
}

// ProtoNumber is the IP protocol a name from /etc/protocols stands for; false when the name
// is not one of them.
func ProtoNumber(name string) (uint8, bool) {
	n, ok := protoNames[name]
	return n, ok
}

// ProtoName is the name iptables-save prints for an IP protocol number.
func ProtoName(n uint8) string {
	switch n {
	case 0:
		return "all"
	case ProtoICMP:
		return "icmp"
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoSCTP:
		return "sctp"
	case ProtoICMPv6:
		return "icmpv6"
	case ProtoIPEncap:
		return "ipencap"
	case ProtoIPIP:
		return "ipip"
	}
	for k, v := range protoNames {
		if v == n {
			return k
		}
	}
	return "proto-" + strconv.Itoa(int(n))
}
