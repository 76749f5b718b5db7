package iptables

import (
	"net/netip"
	"strings"

	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// Conntrack state bits as -m conntrack --ctstate and -m state name them.
const (
	StateInvalid uint8 = 1 << iota
	StateNew
	StateEstablished
	StateRelated
	StateUntracked
	StateSNAT
	StateDNAT
)

func stateBits(p *nf.Packet) uint8 {
	var b uint8
	switch p.Conn.State {
	case nf.CtNew:
		b = StateNew
	case nf.CtEstablished:
		b = StateEstablished
	case nf.CtRelated:
		b = StateRelated
	case nf.CtInvalid:
		return StateInvalid
	case nf.CtUntracked:
		return StateUntracked
	}
	if p.Conn.Status&nf.StatusSNAT != 0 {
		b |= StateSNAT
	}
	if p.Conn.Status&nf.StatusDNAT != 0 {
		b |= StateDNAT
	}
	return b
}

// ConntrackMatch is -m conntrack (and -m state).
type ConntrackMatch struct {
	base
	States                 uint8
	Statuses               nf.CtStatus
	HasState, HasStatus    bool
	NotState, NotStatus    bool
	OrigSrc, OrigDst       *netip.Prefix
	NotOrigSrc, NotOrigDst bool
	OrigDPort              *PortRange
	NotOrigDPort           bool
	// Dir is "ORIGINAL", "REPLY" or "".
	Dir string
}

func (m *ConntrackMatch) Eval(p *nf.Packet, _ *Env) Result {
	if m.HasState && (stateBits(p)&m.States != 0) == m.NotState {
		return Miss
	}
	if !hasConn(p) {
		// Without a connection the kernel checks the state only; any other condition
		// fails.
		return hit(m.HasState)
	}
	if m.HasStatus {
		var s nf.CtStatus
		if p.Conn.State != nf.CtUntracked && p.Conn.State != nf.CtInvalid {
			s = p.Conn.Status
		}
		ok := s&m.Statuses != 0
		if m.Statuses == 0 { // NONE
			ok = s&(nf.StatusSeenReply|nf.StatusAssured|nf.StatusConfirmed|nf.StatusExpected) == 0
		}
		if ok == m.NotStatus {
			return Miss
		}
	}
	src, dst := origTuple(p)
	if m.OrigSrc != nil && m.OrigSrc.Contains(src.Addr()) == m.NotOrigSrc {
		return Miss
	}
	if m.OrigDst != nil && m.OrigDst.Contains(dst.Addr()) == m.NotOrigDst {
		return Miss
	}
	if m.OrigDPort != nil && m.OrigDPort.has(dst.Port()) == m.NotOrigDPort {
		return Miss
	}
	switch m.Dir {
	case "ORIGINAL":
		return hit(!p.Conn.Reply)
	case "REPLY":
		return hit(p.Conn.Reply)
	}
	return Hit
}

// hasConn reports whether the packet has a conntrack entry: untracked and invalid ones (and
// every packet in the raw table) have none.
func hasConn(p *nf.Packet) bool {
	return p.Conn.State != nf.CtUntracked && p.Conn.State != nf.CtInvalid
}

// origTuple is the connection's original source and destination.
func origTuple(p *nf.Packet) (netip.AddrPort, netip.AddrPort) {
	src, dst := netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort)
	if p.Conn.Reply {
		src, dst = dst, src
	}
	if p.Conn.OrigSrc.IsValid() {
		src = p.Conn.OrigSrc
	}
	if p.Conn.OrigDst.IsValid() {
		dst = p.Conn.OrigDst
	}
	return src, dst
}

func parseStates(args []string) (uint8, bool) {
	var bits uint8
	for _, a := range args {
		for s := range strings.SplitSeq(a, ",") {
			switch s {
			case "INVALID":
				bits |= StateInvalid
			case "NEW":
				bits |= StateNew
			case "ESTABLISHED":
				bits |= StateEstablished
			case "RELATED":
				bits |= StateRelated
			case "UNTRACKED":
				bits |= StateUntracked
			case "SNAT":
				bits |= StateSNAT
			case "DNAT":
				bits |= StateDNAT
			default:
				return 0, false
			}
		}
	}
	return bits, true
}

func parseStatuses(args []string) (nf.CtStatus, bool) {
	var bits nf.CtStatus
	for _, a := range args {
		for s := range strings.SplitSeq(a, ",") {
			switch s {
			case "NONE":
			case "EXPECTED":
				bits |= nf.StatusExpected
			case "SEEN_REPLY":
				bits |= nf.StatusSeenReply
			case "ASSURED":
				bits |= nf.StatusAssured
			case "CONFIRMED":
				bits |= nf.StatusConfirmed
			default:
				return 0, false
			}
		}
	}
	return bits, true
}

// parseConntrack reads -m conntrack and -m state.
func parseConntrack(a *allocator, b base, opts []option) Match {
	m := &ConntrackMatch{base: b}
	for _, o := range opts {
		switch o.name {
		case "--ctstate", "--state":
			bits, ok := parseStates(o.args)
			if !ok {
				return b.unknown("state " + strings.Join(o.args, " "))
			}
			m.HasState, m.States, m.NotState = true, bits, o.neg
		case "--ctstatus":
			bits, ok := parseStatuses(o.args)
			if !ok {
				return b.unknown("status " + strings.Join(o.args, " "))
			}
			m.HasStatus, m.Statuses, m.NotStatus = true, bits, o.neg
		case "--ctorigsrc", "--ctorigdst":
			if len(o.args) != 1 {
				return b.unknown("option " + o.name)
			}
			p, ok := parseAddrOrPrefix(o.args[0])
			if !ok {
				return b.unknown("address " + o.args[0])
			}
			if o.name == "--ctorigsrc" {
				m.OrigSrc, m.NotOrigSrc = &p, o.neg
			} else {
				m.OrigDst, m.NotOrigDst = &p, o.neg
			}
		case "--ctorigdstport":
			r, ok := parsePortRange(o.args)
			if !ok {
				return b.unknown("port " + strings.Join(o.args, " "))
			}
			m.OrigDPort, m.NotOrigDPort = &r, o.neg
		case "--ctdir":
			if len(o.args) != 1 || (o.args[0] != "ORIGINAL" && o.args[0] != "REPLY") {
				return b.unknown("bad --ctdir")
			}
			m.Dir = o.args[0]
		default:
			return b.unknown("option " + o.name)
		}
	}
	return m
}
