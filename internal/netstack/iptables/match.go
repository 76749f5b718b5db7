package iptables

import (
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/netdiag/netdiag/internal/netstack/ipset"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// Result is a match's three-way answer.
type Result int8

const (
	// Miss: the packet does not match.
	Miss Result = iota
	// Hit: the packet matches.
	Hit
	// Unsure: the evaluator cannot tell (a match it does not understand, or one that needs
	// state the snapshot lacks).
	Unsure
	// Branch: the match holds for a share of packets only (statistic); the walk follows
	// both ways.
	Branch
)

func (r Result) String() string {
	switch r {
	case Miss:
		return "Miss"
	case Hit:
		return "Hit"
	case Unsure:
		return "Unsure"
	case Branch:
		return "Branch"
	}
	return "?"
}

// Match is one `-m module` with its options.
type Match interface {
	// Module is the module's name as after -m.
	Module() string
	// Eval answers whether the packet matches.
	Eval(p *nf.Packet, env *Env) Result
	// String is the match as saved ("-m tcp --dport 80").
	String() string
}

// option is one option of a module or target with its arguments, as saved.
type option struct {
	name string
	neg  bool
	args []string
}

// base carries the saved text of a match.
type base struct {
	module string
	text   string
}

func (b base) Module() string { return b.module }
func (b base) String() string { return b.text }

// UnknownMatch is a module, or an option of a known module, the evaluator does not
// understand. It is never a hit or a miss: it answers Unsure.
type UnknownMatch struct {
	base
	// Reason says what was not understood.
	Reason string
}

func (m *UnknownMatch) Eval(*nf.Packet, *Env) Result { return Unsure }

// CommentMatch is -m comment; it always matches.
type CommentMatch struct {
	base
	Comment string
}

func (m *CommentMatch) Eval(*nf.Packet, *Env) Result { return Hit }

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

// MultiportMatch is -m multiport.
type MultiportMatch struct {
	base
	// Dir is "s", "d" or "" for either.
	Dir    string
	Ranges []PortRange
	Not    bool
}

func (m *MultiportMatch) Eval(p *nf.Packet, _ *Env) Result {
	switch p.Proto {
	case nf.ProtoTCP, nf.ProtoUDP, nf.ProtoSCTP, 136:
	default:
		return Miss
	}
	in := func(port uint16) bool {
		for _, r := range m.Ranges {
			if r.has(port) {
				return true
			}
		}
		return false
	}
	var ok bool
	switch m.Dir {
	case "s":
		ok = in(p.SrcPort)
	case "d":
		ok = in(p.DstPort)
	default:
		ok = in(p.SrcPort) || in(p.DstPort)
	}
	return hit(ok != m.Not)
}

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

// MarkMatch is -m mark or -m connmark: (mark & Mask) == Value.
type MarkMatch struct {
	base
	Value, Mask uint32
	Not         bool
	// Conn is set for connmark.
	Conn bool
}

func (m *MarkMatch) Eval(p *nf.Packet, _ *Env) Result {
	mark := p.Mark
	if m.Conn {
		if !hasConn(p) {
			return Miss
		}
		mark = p.Conn.Mark
	}
	return hit((mark&m.Mask == m.Value) != m.Not)
}

// SetMatch is -m set --match-set.
type SetMatch struct {
	base
	Set string
	// Dirs are "src" or "dst" per dimension.
	Dirs          []string
	Not           bool
	ReturnNoMatch bool
}

func (m *SetMatch) Eval(p *nf.Packet, env *Env) Result {
	if env == nil || env.Sets == nil {
		return Unsure
	}
	probes := make([]ipset.Probe, len(m.Dirs))
	for i, d := range m.Dirs {
		if d == "src" {
			probes[i] = ipset.Probe{Addr: p.Src, Proto: p.Proto, Port: p.SrcPort, Mark: p.Mark, Iface: p.In}
		} else {
			probes[i] = ipset.Probe{Addr: p.Dst, Proto: p.Proto, Port: p.DstPort, Mark: p.Mark, Iface: p.Out}
		}
	}
	ok, err := env.Sets.Test(m.Set, probes)
	if err != nil {
		return Unsure
	}
	return hit(ok != m.Not)
}

// Address types of -m addrtype.
const (
	AddrUnicast uint16 = 1 << iota
	AddrLocal
	AddrBroadcast
	AddrAnycast
	AddrMulticast
	AddrBlackhole
	AddrUnreachable
	AddrProhibit
	AddrThrow
	AddrNAT
	AddrXResolve
	AddrUnspec
)

var addrTypes = map[string]uint16{
	"UNSPEC": AddrUnspec, "UNICAST": AddrUnicast, "LOCAL": AddrLocal, "BROADCAST": AddrBroadcast,
	"ANYCAST": AddrAnycast, "MULTICAST": AddrMulticast, "BLACKHOLE": AddrBlackhole,
	"UNREACHABLE": AddrUnreachable, "PROHIBIT": AddrProhibit, "THROW": AddrThrow, "NAT": AddrNAT,
	"XRESOLVE": AddrXResolve,
}

// AddrTypeMatch is -m addrtype.
type AddrTypeMatch struct {
	base
	Src, Dst       uint16
	NotSrc, NotDst bool
	// LimitIn and LimitOut restrict LOCAL to the input or output interface's addresses.
	LimitIn, LimitOut bool
}

// addrType classifies an address as the kernel's route types would, from the env.
func addrType(a netip.Addr, env *Env, iface string) (uint16, bool) {
	switch {
	case env.IsLocal(a) && (iface == "" || env.LocalOn(a, iface)):
		return AddrLocal, true
	case a.IsMulticast():
		return AddrMulticast, true
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || env != nil && env.Broadcast[a]:
		return AddrBroadcast, true
	case env.IsLocal(a):
		// Local, but not on the interface the match is limited to.
		return AddrUnicast, true
	}
	return AddrUnicast, true
}

func (m *AddrTypeMatch) Eval(p *nf.Packet, env *Env) Result {
	check := func(types uint16, not bool, a netip.Addr) Result {
		if types == 0 {
			return Hit
		}
		known := AddrUnicast | AddrLocal | AddrBroadcast | AddrMulticast
		if types&^known != 0 {
			return Unsure
		}
		iface := ""
		if m.LimitIn {
			iface = p.In
		} else if m.LimitOut {
			iface = p.Out
		}
		t, _ := addrType(a, env, iface)
		return hit((t&types != 0) != not)
	}
	if r := check(m.Src, m.NotSrc, p.Src); r != Hit {
		return r
	}
	return check(m.Dst, m.NotDst, p.Dst)
}

// StatisticMatch is -m statistic. It holds for a share of the packets: the walk follows
// the rule both matched and not matched, each branch weighted by Probability.
type StatisticMatch struct {
	base
	// Mode is "random" or "nth".
	Mode        string
	Probability float64
	Every       int
	Packet      int
	Not         bool
}

// Share is the fraction of packets the match holds for.
func (m *StatisticMatch) Share() float64 {
	p := m.Probability
	if m.Mode == "nth" {
		p = 1 / float64(max(m.Every, 1))
	}
	if m.Not {
		p = 1 - p
	}
	return p
}

func (m *StatisticMatch) Eval(*nf.Packet, *Env) Result {
	switch s := m.Share(); {
	case s <= 0:
		return Miss
	case s >= 1:
		return Hit
	}
	return Branch
}

// PhysDevMatch is -m physdev.
type PhysDevMatch struct {
	base
	In, Out                         *string
	NotIn, NotOut                   bool
	IsIn, IsOut, IsBridged          bool
	NotIsIn, NotIsOut, NotIsBridged bool
}

func (m *PhysDevMatch) Eval(p *nf.Packet, _ *Env) Result {
	if m.In != nil && (p.PhysIn != "" && IfaceMatch(*m.In, p.PhysIn)) == m.NotIn {
		return Miss
	}
	if m.Out != nil && (p.PhysOut != "" && IfaceMatch(*m.Out, p.PhysOut)) == m.NotOut {
		return Miss
	}
	if m.IsIn && (p.PhysIn != "") == m.NotIsIn {
		return Miss
	}
	if m.IsOut && (p.PhysOut != "") == m.NotIsOut {
		return Miss
	}
	if m.IsBridged && p.Bridged == m.NotIsBridged {
		return Miss
	}
	return Hit
}

// LimitMatch is -m limit. A rate limit passes the packets under the rate; the evaluator
// follows one packet, which it lets through.
type LimitMatch struct{ base }

func (m *LimitMatch) Eval(*nf.Packet, *Env) Result { return Hit }

// IPRangeMatch is -m iprange.
type IPRangeMatch struct {
	base
	SrcFirst, SrcLast, DstFirst, DstLast netip.Addr
	NotSrc, NotDst                       bool
}

func (m *IPRangeMatch) Eval(p *nf.Packet, _ *Env) Result {
	in := func(a, lo, hi netip.Addr) bool { return !a.Less(lo) && !hi.Less(a) }
	if m.SrcFirst.IsValid() && in(p.Src, m.SrcFirst, m.SrcLast) == m.NotSrc {
		return Miss
	}
	if m.DstFirst.IsValid() && in(p.Dst, m.DstFirst, m.DstLast) == m.NotDst {
		return Miss
	}
	return Hit
}

// RecentMatch is -m recent, which kube-proxy uses for ClientIP session affinity. --set
// always matches (it records the address); --rcheck and --update match when Env.Recent
// says the address is on the list, which a connection's first packet is not.
type RecentMatch struct {
	base
	Name string
	// Op is "set", "rcheck", "update" or "remove".
	Op     string
	Source bool
	Not    bool
}

func (m *RecentMatch) Eval(p *nf.Packet, env *Env) Result {
	addr := p.Dst
	if m.Source {
		addr = p.Src
	}
	var ok bool
	switch m.Op {
	case "set":
		ok = true
	case "rcheck", "update", "remove":
		ok = env != nil && env.Recent != nil && env.Recent(m.Name, addr)
	}
	return hit(ok != m.Not)
}

// PktTypeMatch is -m pkttype.
type PktTypeMatch struct {
	base
	Type string
	Not  bool
}

func (m *PktTypeMatch) Eval(p *nf.Packet, env *Env) Result {
	t := "unicast"
	switch {
	case p.Dst.IsMulticast():
		t = "multicast"
	case p.Dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || env != nil && env.Broadcast[p.Dst]:
		t = "broadcast"
	}
	return hit((t == m.Type) != m.Not)
}

func hit(b bool) Result {
	if b {
		return Hit
	}
	return Miss
}

// newMatch builds a module's match from its options; anything it does not understand makes
// an UnknownMatch that keeps the text.
func newMatch(module string, opts []option, text string) Match {
	var a *allocator
	return a.newMatch(module, opts, text)
}

func (a *allocator) newMatch(module string, opts []option, text string) Match {
	b := base{module: module, text: text}
	unknown := func(why string) Match { return &UnknownMatch{base: b, Reason: why} }
	switch module {
	case "comment":
		m := a.comment()
		*m = CommentMatch{base: b}
		for _, o := range opts {
			if o.name == "--comment" && len(o.args) == 1 {
				m.Comment = o.args[0]
			}
		}
		return m
	case "tcp", "udp", "sctp", "udplite":
		m := a.l4Match()
		proto, _ := nf.ProtoNumber(module)
		*m = L4Match{base: b, Proto: proto}
		for _, o := range opts {
			switch o.name {
			case "--sport", "--source-port":
				r, ok := parsePortRange(o.args)
				if !ok {
					return unknown("bad port " + strings.Join(o.args, " "))
				}
				m.SPort, m.NotSPort = &r, o.neg
			case "--dport", "--destination-port":
				r, ok := parsePortRange(o.args)
				if !ok {
					return unknown("bad port " + strings.Join(o.args, " "))
				}
				m.DPort, m.NotDPort = &r, o.neg
			case "--tcp-flags":
				if len(o.args) != 2 || module != "tcp" {
					return unknown("bad --tcp-flags")
				}
				mask, ok1 := parseTCPFlags(o.args[0])
				comp, ok2 := parseTCPFlags(o.args[1])
				if !ok1 || !ok2 {
					return unknown("bad --tcp-flags")
				}
				m.HasFlags, m.FlagsMask, m.FlagsComp, m.NotFlags = true, mask, comp, o.neg
			case "--syn":
				m.HasFlags, m.FlagsMask, m.FlagsComp, m.NotFlags = true, nf.TCPSyn|nf.TCPRst|nf.TCPAck|nf.TCPFin, nf.TCPSyn, o.neg
			default:
				return unknown("option " + o.name)
			}
		}
		return m
	case "icmp":
		m := &ICMPMatch{base: b, Type: 255, Code: -1}
		for _, o := range opts {
			if o.name != "--icmp-type" || len(o.args) != 1 {
				return unknown("option " + o.name)
			}
			t, c, ok := parseICMPType(o.args[0])
			if !ok {
				return unknown("icmp type " + o.args[0])
			}
			m.Type, m.Code, m.Not = t, c, o.neg
		}
		return m
	case "multiport":
		m := &MultiportMatch{base: b}
		for _, o := range opts {
			switch o.name {
			case "--dports", "--destination-ports":
				m.Dir = "d"
			case "--sports", "--source-ports":
				m.Dir = "s"
			case "--ports":
				m.Dir = ""
			default:
				return unknown("option " + o.name)
			}
			if len(o.args) != 1 {
				return unknown("bad port list")
			}
			for part := range strings.SplitSeq(o.args[0], ",") {
				r, ok := parsePortRange([]string{part})
				if !ok {
					return unknown("bad port " + part)
				}
				m.Ranges = append(m.Ranges, r)
			}
			m.Not = o.neg
		}
		return m
	case "conntrack", "state":
		m := &ConntrackMatch{base: b}
		for _, o := range opts {
			switch o.name {
			case "--ctstate", "--state":
				bits, ok := parseStates(o.args)
				if !ok {
					return unknown("state " + strings.Join(o.args, " "))
				}
				m.HasState, m.States, m.NotState = true, bits, o.neg
			case "--ctstatus":
				bits, ok := parseStatuses(o.args)
				if !ok {
					return unknown("status " + strings.Join(o.args, " "))
				}
				m.HasStatus, m.Statuses, m.NotStatus = true, bits, o.neg
			case "--ctorigsrc", "--ctorigdst":
				if len(o.args) != 1 {
					return unknown("option " + o.name)
				}
				p, ok := parseAddrOrPrefix(o.args[0])
				if !ok {
					return unknown("address " + o.args[0])
				}
				if o.name == "--ctorigsrc" {
					m.OrigSrc, m.NotOrigSrc = &p, o.neg
				} else {
					m.OrigDst, m.NotOrigDst = &p, o.neg
				}
			case "--ctorigdstport":
				r, ok := parsePortRange(o.args)
				if !ok {
					return unknown("port " + strings.Join(o.args, " "))
				}
				m.OrigDPort, m.NotOrigDPort = &r, o.neg
			case "--ctdir":
				if len(o.args) != 1 || (o.args[0] != "ORIGINAL" && o.args[0] != "REPLY") {
					return unknown("bad --ctdir")
				}
				m.Dir = o.args[0]
			default:
				return unknown("option " + o.name)
			}
		}
		return m
	case "mark", "connmark":
		m := &MarkMatch{base: b, Conn: module == "connmark"}
		for _, o := range opts {
			if o.name != "--mark" || len(o.args) != 1 {
				return unknown("option " + o.name)
			}
			v, mask, ok := parseMarkMask(o.args[0])
			if !ok {
				return unknown("mark " + o.args[0])
			}
			m.Value, m.Mask, m.Not = v, mask, o.neg
		}
		return m
	case "set":
		m := &SetMatch{base: b}
		for _, o := range opts {
			switch o.name {
			case "--match-set", "--set":
				if len(o.args) != 2 {
					return unknown("bad --match-set")
				}
				m.Set, m.Dirs, m.Not = o.args[0], strings.Split(o.args[1], ","), o.neg
				for _, d := range m.Dirs {
					if d != "src" && d != "dst" {
						return unknown("bad --match-set flags " + o.args[1])
					}
				}
			case "--return-nomatch":
				m.ReturnNoMatch = true
			case "--update-counters", "--update-subcounters":
				// Counter bookkeeping, no effect on the answer.
			default:
				return unknown("option " + o.name)
			}
		}
		if m.Set == "" {
			return unknown("no --match-set")
		}
		return m
	case "addrtype":
		m := &AddrTypeMatch{base: b}
		for _, o := range opts {
			switch o.name {
			case "--src-type", "--dst-type":
				var bits uint16
				for _, a := range o.args {
					for t := range strings.SplitSeq(a, ",") {
						bit, ok := addrTypes[t]
						if !ok {
							return unknown("address type " + t)
						}
						bits |= bit
					}
				}
				if o.name == "--src-type" {
					m.Src, m.NotSrc = bits, o.neg
				} else {
					m.Dst, m.NotDst = bits, o.neg
				}
			case "--limit-iface-in":
				m.LimitIn = true
			case "--limit-iface-out":
				m.LimitOut = true
			default:
				return unknown("option " + o.name)
			}
		}
		return m
	case "statistic":
		m := a.statistic()
		*m = StatisticMatch{base: b}
		for _, o := range opts {
			if len(o.args) != 1 {
				return unknown("option " + o.name)
			}
			switch o.name {
			case "--mode":
				m.Mode = o.args[0]
			case "--probability":
				f, err := strconv.ParseFloat(o.args[0], 64)
				if err != nil || math.IsNaN(f) {
					return unknown("probability " + o.args[0])
				}
				m.Probability, m.Not = f, o.neg
			case "--every":
				n, err := strconv.Atoi(o.args[0])
				if err != nil || n < 1 {
					return unknown("every " + o.args[0])
				}
				m.Every, m.Not = n, o.neg
			case "--packet":
				n, err := strconv.Atoi(o.args[0])
				if err != nil {
					return unknown("packet " + o.args[0])
				}
				m.Packet = n
			default:
				return unknown("option " + o.name)
			}
		}
		if m.Mode != "random" && m.Mode != "nth" {
			return unknown("mode " + m.Mode)
		}
		return m
	case "physdev":
		m := &PhysDevMatch{base: b}
		for _, o := range opts {
			switch o.name {
			case "--physdev-in", "--physdev-out":
				if len(o.args) != 1 {
					return unknown("option " + o.name)
				}
				name := o.args[0]
				if o.name == "--physdev-in" {
					m.In, m.NotIn = &name, o.neg
				} else {
					m.Out, m.NotOut = &name, o.neg
				}
			case "--physdev-is-in":
				m.IsIn, m.NotIsIn = true, o.neg
			case "--physdev-is-out":
				m.IsOut, m.NotIsOut = true, o.neg
			case "--physdev-is-bridged":
				m.IsBridged, m.NotIsBridged = true, o.neg
			default:
				return unknown("option " + o.name)
			}
		}
		return m
	case "limit":
		return &LimitMatch{base: b}
	case "nfacct":
		// Accounting only: it counts the packets and always matches.
		return &CommentMatch{base: b}
	case "iprange":
		m := &IPRangeMatch{base: b}
		for _, o := range opts {
			if len(o.args) != 1 {
				return unknown("option " + o.name)
			}
			lo, hi, ok := strings.Cut(o.args[0], "-")
			a, err1 := netip.ParseAddr(lo)
			z, err2 := netip.ParseAddr(hi)
			if !ok || err1 != nil || err2 != nil {
				return unknown("range " + o.args[0])
			}
			switch o.name {
			case "--src-range":
				m.SrcFirst, m.SrcLast, m.NotSrc = a, z, o.neg
			case "--dst-range":
				m.DstFirst, m.DstLast, m.NotDst = a, z, o.neg
			default:
				return unknown("option " + o.name)
			}
		}
		return m
	case "recent":
		m := &RecentMatch{base: b, Name: "DEFAULT", Source: true}
		for _, o := range opts {
			switch o.name {
			case "--set", "--rcheck", "--update", "--remove":
				m.Op, m.Not = o.name[2:], o.neg
			case "--name":
				if len(o.args) == 1 {
					m.Name = o.args[0]
				}
			case "--rsource":
				m.Source = true
			case "--rdest":
				m.Source = false
			case "--seconds", "--reap", "--hitcount", "--rttl", "--mask":
				// Refinements of the list lookup that Env.Recent answers.
			default:
				return unknown("option " + o.name)
			}
		}
		if m.Op == "" {
			return unknown("no operation")
		}
		return m
	case "pkttype":
		m := &PktTypeMatch{base: b}
		for _, o := range opts {
			if o.name != "--pkt-type" || len(o.args) != 1 {
				return unknown("option " + o.name)
			}
			m.Type, m.Not = o.args[0], o.neg
		}
		return m
	}
	return unknown("module " + module)
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

// parseMarkMask reads value[/mask]; the mask defaults to all ones.
func parseMarkMask(s string) (uint32, uint32, bool) {
	v, m, hasMask := strings.Cut(s, "/")
	value, err := strconv.ParseUint(v, 0, 32)
	if err != nil {
		return 0, 0, false
	}
	mask := uint64(math.MaxUint32)
	if hasMask {
		if mask, err = strconv.ParseUint(m, 0, 32); err != nil {
			return 0, 0, false
		}
	}
	return uint32(value), uint32(mask), true
}

// parseAddrOrPrefix reads an address, a prefix, or an address with a dotted mask. A
// non-contiguous mask cannot be a netip.Prefix and is refused.
func parseAddrOrPrefix(s string) (netip.Prefix, bool) {
	addr, bits, hasBits := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, false
	}
	if !hasBits {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	if n, err := strconv.Atoi(bits); err == nil {
		p := netip.PrefixFrom(a, n)
		return p, p.IsValid()
	}
	m, err := netip.ParseAddr(bits)
	if err != nil || !m.Is4() || !a.Is4() {
		return netip.Prefix{}, false
	}
	mb := m.As4()
	mask := uint32(mb[0])<<24 | uint32(mb[1])<<16 | uint32(mb[2])<<8 | uint32(mb[3])
	ones := 0
	for mask&0x80000000 != 0 {
		ones++
		mask <<= 1
	}
	if mask != 0 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones), true
}

func itoa(n int) string { return strconv.Itoa(n) }
