package iptables

import (
	"strconv"
	"strings"

	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// PortRange is an inclusive range of ports.
type PortRange struct{ First, Last uint16 }

func (r PortRange) has(p uint16) bool { return p >= r.First && p <= r.Last }

// L4Match is -m tcp, udp, sctp or udplite with its port and flag options.
type L4Match struct {
	base
	Proto                uint8
	SPort, DPort         *PortRange
	NotSPort, NotDPort   bool
	FlagsMask, FlagsComp uint8
	HasFlags, NotFlags   bool
}

func (m *L4Match) Eval(p *nf.Packet, _ *Env) Result {
	if p.Proto != m.Proto || p.Fragment {
		return Miss
	}
	if m.SPort != nil && m.SPort.has(p.SrcPort) == m.NotSPort {
		return Miss
	}
	if m.DPort != nil && m.DPort.has(p.DstPort) == m.NotDPort {
		return Miss
	}
	if m.HasFlags && (p.TCPFlags&m.FlagsMask == m.FlagsComp) == m.NotFlags {
		return Miss
	}
	return Hit
}

// ICMPMatch is -m icmp --icmp-type.
type ICMPMatch struct {
	base
	// Type 255 is "any"; Code -1 is any code.
	Type uint8
	Code int
	Not  bool
}

func (m *ICMPMatch) Eval(p *nf.Packet, _ *Env) Result {
	if p.Proto != nf.ProtoICMP {
		return Miss
	}
	ok := m.Type == 255 || (p.ICMPType == m.Type && (m.Code < 0 || int(p.ICMPCode) == m.Code))
	return hit(ok != m.Not)
}

func parsePortRange(args []string) (PortRange, bool) {
	if len(args) != 1 {
		return PortRange{}, false
	}
	lo, hi, isRange := strings.Cut(args[0], ":")
	if !isRange {
		p, ok := parsePort(lo)
		return PortRange{p, p}, ok
	}
	r := PortRange{0, 65535}
	var ok bool
	if lo != "" {
		if r.First, ok = parsePort(lo); !ok {
			return r, false
		}
	}
	if hi != "" {
		if r.Last, ok = parsePort(hi); !ok {
			return r, false
		}
	}
	return r, true
}

var serviceNames = map[string]uint16{"http": 80, "https": 443, "domain": 53, "ssh": 22, "bootps": 67, "bootpc": 68, "ntp": 123}

func parsePort(s string) (uint16, bool) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		p, ok := serviceNames[s]
		return p, ok
	}
	return uint16(n), true
}

var tcpFlagNames = map[string]uint8{"FIN": nf.TCPFin, "SYN": nf.TCPSyn, "RST": nf.TCPRst, "PSH": nf.TCPPsh, "ACK": nf.TCPAck, "URG": nf.TCPUrg, "ECE": nf.TCPEce, "CWR": nf.TCPCwr, "ALL": 0xff, "NONE": 0}

func parseTCPFlags(s string) (uint8, bool) {
	var f uint8
	for name := range strings.SplitSeq(s, ",") {
		bit, ok := tcpFlagNames[name]
		if !ok {
			return 0, false
		}
		f |= bit
	}
	return f, true
}

var icmpNames = map[string][2]int{
	"any": {255, -1}, "echo-reply": {0, -1}, "destination-unreachable": {3, -1}, "network-unreachable": {3, 0},
	"host-unreachable": {3, 1}, "protocol-unreachable": {3, 2}, "port-unreachable": {3, 3},
	"fragmentation-needed": {3, 4}, "source-quench": {4, -1}, "redirect": {5, -1}, "echo-request": {8, -1},
	"time-exceeded": {11, -1}, "ttl-zero-during-transit": {11, 0}, "parameter-problem": {12, -1},
	"timestamp-request": {13, -1}, "timestamp-reply": {14, -1},
}

func parseICMPType(s string) (uint8, int, bool) {
	if v, ok := icmpNames[s]; ok {
		return uint8(v[0]), v[1], true
	}
	t, c, hasCode := strings.Cut(s, "/")
	n, err := strconv.ParseUint(t, 10, 8)
	if err != nil {
		return 0, 0, false
	}
	code := -1
	if hasCode {
		cn, err := strconv.ParseUint(c, 10, 8)
		if err != nil {
			return 0, 0, false
		}
		code = int(cn)
	}
	return uint8(n), code, true
}

// parseL4 reads -m tcp, udp, sctp and udplite.
func parseL4(a *allocator, b base, opts []option) Match {
	m := a.l4Match()
	proto, _ := nf.ProtoNumber(b.module)
	*m = L4Match{base: b, Proto: proto}
	for _, o := range opts {
		switch o.name {
		case "--sport", "--source-port":
			r, ok := parsePortRange(o.args)
			if !ok {
				return b.unknown("bad port " + strings.Join(o.args, " "))
			}
			m.SPort, m.NotSPort = &r, o.neg
		case "--dport", "--destination-port":
			r, ok := parsePortRange(o.args)
			if !ok {
				return b.unknown("bad port " + strings.Join(o.args, " "))
			}
			m.DPort, m.NotDPort = &r, o.neg
		case "--tcp-flags":
			if len(o.args) != 2 || b.module != "tcp" {
				return b.unknown("bad --tcp-flags")
			}
			mask, ok1 := parseTCPFlags(o.args[0])
			comp, ok2 := parseTCPFlags(o.args[1])
			if !ok1 || !ok2 {
				return b.unknown("bad --tcp-flags")
			}
			m.HasFlags, m.FlagsMask, m.FlagsComp, m.NotFlags = true, mask, comp, o.neg
		case "--syn":
			m.HasFlags, m.FlagsMask, m.FlagsComp, m.NotFlags = true, nf.TCPSyn|nf.TCPRst|nf.TCPAck|nf.TCPFin, nf.TCPSyn, o.neg
		default:
			return b.unknown("option " + o.name)
		}
	}
	return m
}

// parseICMP reads -m icmp.
func parseICMP(a *allocator, b base, opts []option) Match {
	m := &ICMPMatch{base: b, Type: 255, Code: -1}
	for _, o := range opts {
		if o.name != "--icmp-type" || len(o.args) != 1 {
			return b.unknown("option " + o.name)
		}
		t, c, ok := parseICMPType(o.args[0])
		if !ok {
			return b.unknown("icmp type " + o.args[0])
		}
		m.Type, m.Code, m.Not = t, c, o.neg
	}
	return m
}
