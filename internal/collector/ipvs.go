package collector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/netdiag/netdiag/internal/netstack"
)

// Generic netlink IPVS commands and attributes (linux/ip_vs.h).
const (
	ipvsGenlVersion = 1

	ipvsCmdGetService = 4
	ipvsCmdGetDest    = 8

	ipvsCmdAttrService = 1
	ipvsCmdAttrDest    = 2

	ipvsSvcAttrAF        = 1
	ipvsSvcAttrProtocol  = 2
	ipvsSvcAttrAddr      = 3
	ipvsSvcAttrPort      = 4
	ipvsSvcAttrFWMark    = 5
	ipvsSvcAttrSchedName = 6

	ipvsDestAttrAddr      = 1
	ipvsDestAttrPort      = 2
	ipvsDestAttrFwdMethod = 3
	ipvsDestAttrWeight    = 4
	ipvsDestAttrAF        = 11

	ipvsConnFFwdMask = 0x7
)

var ipvsForward = map[uint32]string{0: "masq", 1: "local", 2: "tunnel", 3: "route", 4: "bypass"}

var ipvsProtocols = map[uint16]string{unix.IPPROTO_TCP: "TCP", unix.IPPROTO_UDP: "UDP", unix.IPPROTO_SCTP: "SCTP"}

// ipvsService keeps the raw attributes of a service, which the destination dump needs to
// name it again.
type ipvsService struct {
	snap  netstack.IPVSService
	attrs []byte
}

// readIPVS dumps the ipvs virtual services and their real servers through generic netlink in
// the calling thread's namespace. A kernel without ip_vs (neither built in nor loaded) has no
// IPVS family and so no virtual service at all: that is an empty part, read in full, not an
// error (kube-proxy in ipvs mode loads the module before it adds a service). No module is
// loaded here.
func readIPVS() ([]netstack.IPVSService, error) {
	family, err := netlink.GenlFamilyGet("IPVS")
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("generic netlink family IPVS: %w", err)
	}
	req := nl.NewNetlinkRequest(int(family.ID), unix.NLM_F_DUMP)
	req.AddData(&nl.Genlmsg{Command: ipvsCmdGetService, Version: ipvsGenlVersion})
	msgs, err := req.Execute(unix.NETLINK_GENERIC, family.ID)
	if err != nil {
		return nil, fmt.Errorf("dump ipvs services: %w", err)
	}
	var out []netstack.IPVSService
	for _, m := range msgs {
		svc, err := parseIPVSService(m)
		if err != nil {
			return out, err
		}
		dreq := nl.NewNetlinkRequest(int(family.ID), unix.NLM_F_DUMP)
		dreq.AddData(&nl.Genlmsg{Command: ipvsCmdGetDest, Version: ipvsGenlVersion})
		dreq.AddData(nl.NewRtAttr(ipvsCmdAttrService|unix.NLA_F_NESTED, svc.attrs))
		dmsgs, err := dreq.Execute(unix.NETLINK_GENERIC, family.ID)
		if err != nil {
			return out, fmt.Errorf("dump destinations of ipvs service %s: %w", svc.snap.Address, err)
		}
		for _, dm := range dmsgs {
			d, err := parseIPVSDest(dm)
			if err != nil {
				return out, err
			}
			svc.snap.Destinations = append(svc.snap.Destinations, d)
		}
		out = append(out, svc.snap)
	}
	return out, nil
}

// genlAttrs returns the attributes nested in the one of type want of a generic netlink
// message.
func genlAttrs(msg []byte, want uint16) ([]syscall.NetlinkRouteAttr, []byte, error) {
	if len(msg) < nl.SizeofGenlmsg {
		return nil, nil, fmt.Errorf("generic netlink message of %d bytes", len(msg))
	}
	top, err := parseAttrs(msg[nl.SizeofGenlmsg:])
	if err != nil {
		return nil, nil, fmt.Errorf("parse generic netlink message: %w", err)
	}
	for _, a := range top {
		if a.Attr.Type&nl.NLA_TYPE_MASK == want {
			nested, err := parseAttrs(a.Value)
			if err != nil {
				return nil, nil, fmt.Errorf("parse nested attribute %d: %w", want, err)
			}
			return nested, a.Value, nil
		}
	}
	return nil, nil, fmt.Errorf("no attribute %d in generic netlink message", want)
}

// ipvsAddr reads an address attribute: a 16-byte union that holds an IPv4 address in its
// first four bytes.
func ipvsAddr(af uint16, b []byte) netip.Addr {
	if af == unix.AF_INET && len(b) >= 4 {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	if len(b) >= 16 {
		return netip.AddrFrom16([16]byte(b[:16]))
	}
	return netip.Addr{}
}

func parseIPVSService(msg []byte) (ipvsService, error) {
	attrs, raw, err := genlAttrs(msg, ipvsCmdAttrService)
	if err != nil {
		return ipvsService{}, fmt.Errorf("ipvs service: %w", err)
	}
	var (
		af, proto, port uint16
		addrRaw         []byte
		svc             ipvsService
	)
	svc.attrs = slices.Clone(raw)
	for _, a := range attrs {
		switch a.Attr.Type & nl.NLA_TYPE_MASK {
		case ipvsSvcAttrAF:
			af = u16(a.Value)
		case ipvsSvcAttrProtocol:
			proto = u16(a.Value)
		case ipvsSvcAttrAddr:
			addrRaw = a.Value
		case ipvsSvcAttrPort:
			port = be16(a.Value)
		case ipvsSvcAttrFWMark:
			svc.snap.FWMark = u32(a.Value)
		case ipvsSvcAttrSchedName:
			svc.snap.Scheduler = cstring(a.Value)
		}
	}
	svc.snap.Protocol = ipvsProtocols[proto]
	if svc.snap.Protocol == "" && proto != 0 {
		svc.snap.Protocol = fmt.Sprint(proto)
	}
	if addr := ipvsAddr(af, addrRaw); addr.IsValid() {
		svc.snap.Address = netip.AddrPortFrom(addr, port)
	}
	return svc, nil
}

func parseIPVSDest(msg []byte) (netstack.IPVSDestination, error) {
	attrs, _, err := genlAttrs(msg, ipvsCmdAttrDest)
	if err != nil {
		return netstack.IPVSDestination{}, fmt.Errorf("ipvs destination: %w", err)
	}
	var (
		d       netstack.IPVSDestination
		af      uint16 = unix.AF_INET
		addrRaw []byte
		port    uint16
	)
	for _, a := range attrs {
		switch a.Attr.Type & nl.NLA_TYPE_MASK {
		case ipvsDestAttrAF:
			af = u16(a.Value)
		case ipvsDestAttrAddr:
			addrRaw = a.Value
		case ipvsDestAttrPort:
			port = be16(a.Value)
		case ipvsDestAttrWeight:
			d.Weight = int(int32(u32(a.Value)))
		case ipvsDestAttrFwdMethod:
			d.Forward = ipvsForward[u32(a.Value)&ipvsConnFFwdMask]
		}
	}
	if addr := ipvsAddr(af, addrRaw); addr.IsValid() {
		d.Address = netip.AddrPortFrom(addr, port)
	}
	return d, nil
}

func u16(b []byte) uint16 {
	if len(b) < 2 {
		return 0
	}
	return binary.NativeEndian.Uint16(b)
}

func be16(b []byte) uint16 {
	if len(b) < 2 {
		return 0
	}
	return binary.BigEndian.Uint16(b)
}

func u32(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return binary.NativeEndian.Uint32(b)
}

func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// parseAttrs splits netlink attributes, refusing a malformed length where nl.ParseRouteAttr
// would panic.
func parseAttrs(b []byte) ([]syscall.NetlinkRouteAttr, error) {
	var out []syscall.NetlinkRouteAttr
	for len(b) >= syscall.SizeofRtAttr {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4])
		if l < syscall.SizeofRtAttr || l > len(b) {
			return out, fmt.Errorf("netlink attribute of length %d in %d bytes", l, len(b))
		}
		out = append(out, syscall.NetlinkRouteAttr{
			Attr:  syscall.RtAttr{Len: uint16(l), Type: typ},
			Value: b[syscall.SizeofRtAttr:l],
		})
		b = b[min((l+syscall.RTA_ALIGNTO-1)&^(syscall.RTA_ALIGNTO-1), len(b)):]
	}
	return out, nil
}
