package iptables

import (
	"net/netip"
	"strconv"
	"strings"
)

// Target is what a matching rule does (-j or -g).
type Target interface {
	// Name is the target as after -j: ACCEPT, DNAT, a chain name, ...
	Name() string
	// String is the target as saved ("-j DNAT --to-destination 10.0.0.1:80").
	String() string
}

type tbase struct {
	name string
	text string
}

func (t tbase) Name() string   { return t.name }
func (t tbase) String() string { return t.text }

// VerdictTarget is ACCEPT, DROP or RETURN.
type VerdictTarget struct{ tbase }

// JumpTarget enters a user chain (-j CHAIN, or -g CHAIN when the rule's Goto is set).
type JumpTarget struct {
	tbase
	Chain string
}

// RejectTarget is REJECT: the packet is dropped and an error sent back.
type RejectTarget struct {
	tbase
	// With is the --reject-with type, icmp-port-unreachable by default.
	With string
}

// NATTarget is DNAT, SNAT, MASQUERADE or REDIRECT.
type NATTarget struct {
	tbase
	// Addr is the first address of --to-destination or --to-source; zero keeps the address
	// (a port-only DNAT) or, for MASQUERADE and REDIRECT, takes the interface's.
	Addr netip.Addr
	// Port is the first port of the range; zero keeps the packet's.
	Port uint16
	// Range is set when the target names more than one address or port; the evaluator takes
	// the first and says so.
	Range bool
	// Random, FullyRandom and Persistent are the port allocation flags.
	Random, FullyRandom, Persistent bool
}

// MarkTarget is MARK or CONNMARK. The new mark is (mark & ^Mask) ^ Xor, or for
// save/restore between the packet and the connection, the masked copy.
type MarkTarget struct {
	tbase
	// Conn is set for CONNMARK.
	Conn bool
	// Op is "xset" (--set-xmark and every form iptables-save prints), "save" or "restore".
	Op        string
	Xor, Mask uint32
	// NfMask and CtMask are CONNMARK --save-mark/--restore-mark masks.
	NfMask, CtMask uint32
}

// ContinueTarget is a target that changes nothing the evaluator follows and lets the packet
// go on: LOG, NFLOG, TRACE, TCPMSS, ...; or CT/NOTRACK, which untracks when NoTrack is set.
type ContinueTarget struct {
	tbase
	NoTrack bool
}

// UnknownTarget is a target the evaluator does not understand; a packet that reaches it has
// an Unknown verdict.
type UnknownTarget struct {
	tbase
	Reason string
}

var continueTargets = map[string]bool{
	"LOG": true, "NFLOG": true, "ULOG": true, "TRACE": true, "TCPMSS": true, "CHECKSUM": true,
	"CLASSIFY": true, "DSCP": true, "TOS": true, "TTL": true, "AUDIT": true, "SET": true, "IDLETIMER": true,
	"LED": true, "SECMARK": true, "CONNSECMARK": true,
}

// newTarget builds the target of a rule; chains holds the table's chains so that a jump
// can be told from an extension.
func newTarget(name string, opts []option, text string, chains map[string]*Chain) Target {
	var a *allocator
	return a.newTarget(name, opts, text, chains)
}

func (a *allocator) newTarget(name string, opts []option, text string, chains map[string]*Chain) Target {
	b := tbase{name: name, text: text}
	unknown := func(why string) Target { return &UnknownTarget{tbase: b, Reason: why} }
	// A user chain cannot have a target's name, so the names are checked first: most
	// targets are then found without a map lookup.
	switch name {
	case "ACCEPT", "DROP", "RETURN":
		if len(opts) != 0 {
			return unknown("options on " + name)
		}
		return &VerdictTarget{tbase: b}
	case "REJECT":
		t := &RejectTarget{tbase: b, With: "icmp-port-unreachable"}
		for _, o := range opts {
			if o.name != "--reject-with" || len(o.args) != 1 {
				return unknown("option " + o.name)
			}
			t.With = o.args[0]
		}
		return t
	case "DNAT", "SNAT", "MASQUERADE", "REDIRECT":
		t := a.nat()
		*t = NATTarget{tbase: b}
		seen := false
		for _, o := range opts {
			switch o.name {
			case "--to-destination", "--to-source", "--to":
				if len(o.args) != 1 {
					return unknown("bad " + o.name)
				}
				if seen {
					t.Range = true
					continue
				}
				seen = true
				if !parseNATRange(o.args[0], t) {
					return unknown("bad address " + o.args[0])
				}
			case "--to-ports":
				if len(o.args) != 1 {
					return unknown("bad --to-ports")
				}
				lo, hi, isRange := strings.Cut(o.args[0], "-")
				p, ok := parsePort(lo)
				if !ok {
					return unknown("bad port " + o.args[0])
				}
				t.Port, t.Range = p, t.Range || (isRange && hi != lo)
			case "--random":
				t.Random = true
			case "--random-fully":
				t.FullyRandom = true
			case "--persistent":
				t.Persistent = true
			default:
				return unknown("option " + o.name)
			}
		}
		if (name == "DNAT" || name == "SNAT") && !seen {
			return unknown(name + " without an address")
		}
		return t
	case "MARK", "CONNMARK":
		t := &MarkTarget{tbase: b, Conn: name == "CONNMARK", NfMask: 0xffffffff, CtMask: 0xffffffff}
		for _, o := range opts {
			if o.name == "--nfmask" || o.name == "--ctmask" || o.name == "--mask" {
				if len(o.args) != 1 {
					return unknown("bad " + o.name)
				}
				m, err := strconv.ParseUint(o.args[0], 0, 32)
				if err != nil {
					return unknown("bad " + o.name)
				}
				switch o.name {
				case "--nfmask":
					t.NfMask = uint32(m)
				case "--ctmask":
					t.CtMask = uint32(m)
				default:
					t.NfMask, t.CtMask = uint32(m), uint32(m)
				}
				continue
			}
			if o.name == "--save-mark" || o.name == "--restore-mark" {
				t.Op = strings.TrimSuffix(o.name[2:], "-mark")
				continue
			}
			if len(o.args) != 1 {
				return unknown("bad " + o.name)
			}
			v, m, ok := parseMarkMask(o.args[0])
			if !ok {
				return unknown("bad mark " + o.args[0])
			}
			t.Op = "xset"
			switch o.name {
			case "--set-xmark":
				t.Xor, t.Mask = v, m
			case "--set-mark":
				// (mark & ^m) | v, written as the kernel's xset.
				t.Xor, t.Mask = v, m|v
			case "--or-mark":
				t.Xor, t.Mask = v, v
			case "--and-mark":
				t.Xor, t.Mask = 0, ^v
			case "--xor-mark":
				t.Xor, t.Mask = v, 0
			default:
				return unknown("option " + o.name)
			}
		}
		if t.Op == "" {
			return unknown("no mark operation")
		}
		return t
	case "CT", "NOTRACK":
		t := &ContinueTarget{tbase: b, NoTrack: name == "NOTRACK"}
		for _, o := range opts {
			if o.name == "--notrack" {
				t.NoTrack = true
			}
		}
		return t
	}
	if continueTargets[name] {
		return &ContinueTarget{tbase: b}
	}
	if len(opts) == 0 {
		// Any other name is a user chain: iptables refuses a chain named as a target. The
		// evaluator finds the chain when it jumps, and a name that is neither is Unknown
		// there.
		t := a.jump()
		*t = JumpTarget{tbase: b, Chain: name}
		return t
	}
	if _, ok := chains[name]; ok {
		return unknown("jump with options")
	}
	return unknown("target " + name)
}

// parseNATRange reads ip[-ip][:port[-port]] (or [ipv6]:port) into the target's first
// address and port, noting a range.
func parseNATRange(s string, t *NATTarget) bool {
	var addrs, ports string
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		addrs, ports = s[1:end], strings.TrimPrefix(s[end+1:], ":")
	} else if strings.Count(s, ":") > 1 {
		addrs = s
	} else {
		addrs, ports, _ = strings.Cut(s, ":")
	}
	if addrs != "" {
		lo, hi, isRange := strings.Cut(addrs, "-")
		a, err := netip.ParseAddr(lo)
		if err != nil {
			return false
		}
		t.Addr = a
		if isRange && hi != lo {
			t.Range = true
		}
	}
	if ports != "" {
		lo, hi, isRange := strings.Cut(ports, "-")
		p, ok := parsePort(lo)
		if !ok {
			return false
		}
		t.Port = p
		if isRange && hi != lo {
			t.Range = true
		}
	}
	return true
}
