package iptables

import (
	"net/netip"
	"strconv"
	"strings"

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
	parse, ok := matchModules[module]
	if !ok {
		return b.unknown("module " + module)
	}
	return parse(a, b, opts)
}

// matchParser reads one module's options into its match; what it does not understand makes
// an UnknownMatch.
type matchParser func(a *allocator, b base, opts []option) Match

// matchModules are the parsers of the match modules the evaluator understands, by module
// name, each beside its match in its family's file. It is built once and only read.
var matchModules = map[string]matchParser{
	"comment":   parseComment,
	"tcp":       parseL4,
	"udp":       parseL4,
	"sctp":      parseL4,
	"udplite":   parseL4,
	"icmp":      parseICMP,
	"multiport": parseMultiport,
	"conntrack": parseConntrack,
	"state":     parseConntrack,
	"mark":      parseMark,
	"connmark":  parseMark,
	"set":       parseSet,
	"addrtype":  parseAddrType,
	"statistic": parseStatistic,
	"physdev":   parsePhysDev,
	"limit":     parseLimit,
	"nfacct":    parseNFAcct,
	"iprange":   parseIPRange,
	"recent":    parseRecent,
	"pkttype":   parsePktType,
	"rpfilter":  parseRPFilter,
}

// unknown is a match of the module not understood, for the reason given.
func (b base) unknown(why string) Match { return &UnknownMatch{base: b, Reason: why} }

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
