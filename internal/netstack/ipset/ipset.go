package ipset

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Dimension kinds of a set type.
const (
	DimIP    = "ip"
	DimNet   = "net"
	DimPort  = "port"
	DimMark  = "mark"
	DimIface = "iface"
	DimMAC   = "mac"
	DimSet   = "set"
)

// Sets are the ipsets of one namespace by name.
type Sets struct {
	ByName map[string]*Set
}

// Set is one ipset.
type Set struct {
	Name string
	// Type is the set type as created: "hash:ip", "hash:net,port", "bitmap:port", "list:set", ...
	Type string
	// Dims are the kinds of the type's dimensions, in order ("ip", "port" for hash:ip,port).
	Dims []string
	// Family is inet or inet6.
	Family  string
	Entries []Entry

	ips map[netip.Addr]bool // single-dimension hash:ip and bitmap:ip members
}

// Entry is one member: one value per dimension.
type Entry struct {
	Values []Value
	// NoMatch excludes the entry's addresses from a hash:net type set.
	NoMatch bool
	// Text is the member as saved.
	Text string
}

// Value is one dimension of a member, or of a packet being tested.
type Value struct {
	// Net is an address as a host prefix, or a network; Last is the end of an address range.
	Net  netip.Prefix
	Last netip.Addr
	// Proto (by number, 0 when not given) and Port, PortEnd (a range) for port dimensions.
	Proto   uint8
	Port    uint16
	PortEnd uint16
	Mark    uint32
	Iface   string
	// SetName is the member of a list:set.
	SetName string
}

// Probe is a packet's value for one dimension, chosen by the set match's src/dst flag.
type Probe struct {
	Addr  netip.Addr
	Proto uint8
	Port  uint16
	Mark  uint32
	Iface string
}

// Parse reads `ipset save` output. Lines it does not know are an error naming the line;
// members of a set that was never created too.
func Parse(save string) (*Sets, error) {
	sets := &Sets{ByName: map[string]*Set{}}
	for n, line := range strings.Split(save, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		f := fields(line)
		switch f[0] {
		case "create", "-N", "-exist":
			if len(f) < 3 {
				return nil, fmt.Errorf("line %d: create without name and type: %q", n+1, line)
			}
			s, err := newSet(f[1], f[2], f[3:])
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n+1, err)
			}
			sets.ByName[s.Name] = s
		case "add", "-A":
			if len(f) < 3 {
				return nil, fmt.Errorf("line %d: add without set and member: %q", n+1, line)
			}
			s := sets.ByName[f[1]]
			if s == nil {
				return nil, fmt.Errorf("line %d: member of set %q that was not created", n+1, f[1])
			}
			e, err := s.parseEntry(f[2], f[3:])
			if err != nil {
				return nil, fmt.Errorf("line %d: set %s: %w", n+1, s.Name, err)
			}
			s.add(e)
		default:
			return nil, fmt.Errorf("line %d: unknown command %q", n+1, f[0])
		}
	}
	return sets, nil
}

// fields splits on spaces, keeping double-quoted comments whole.
func fields(line string) []string {
	var out []string
	for line != "" {
		line = strings.TrimLeft(line, " \t")
		if line == "" {
			break
		}
		if line[0] == '"' {
			end := strings.IndexByte(line[1:], '"')
			if end < 0 {
				out = append(out, line[1:])
				break
			}
			out = append(out, line[1:end+1])
			line = line[end+2:]
			continue
		}
		end := strings.IndexAny(line, " \t")
		if end < 0 {
			out = append(out, line)
			break
		}
		out = append(out, line[:end])
		line = line[end:]
	}
	return out
}

func newSet(name, typ string, opts []string) (*Set, error) {
	method, dims, ok := strings.Cut(typ, ":")
	if !ok {
		return nil, fmt.Errorf("set %s: type %q is not method:dimensions", name, typ)
	}
	switch method {
	case "hash", "bitmap", "list":
	default:
		return nil, fmt.Errorf("set %s: unknown method %q", name, method)
	}
	s := &Set{Name: name, Type: typ, Family: "inet"}
	for d := range strings.SplitSeq(dims, ",") {
		switch d {
		case DimIP, DimNet, DimPort, DimMark, DimIface, DimMAC, DimSet:
			s.Dims = append(s.Dims, d)
		default:
			return nil, fmt.Errorf("set %s: unknown dimension %q in type %s", name, d, typ)
		}
	}
	for i := 0; i+1 < len(opts); i++ {
		if opts[i] == "family" {
			s.Family = opts[i+1]
		}
	}
	return s, nil
}

func (s *Set) add(e Entry) {
	if len(s.Dims) == 1 && s.Dims[0] == DimIP && !e.Values[0].Last.IsValid() && e.Values[0].Net.IsSingleIP() {
		if s.ips == nil {
			s.ips = map[netip.Addr]bool{}
		}
		s.ips[e.Values[0].Net.Addr()] = true
		return
	}
	s.Entries = append(s.Entries, e)
}

func (s *Set) parseEntry(member string, opts []string) (Entry, error) {
	e := Entry{Text: member}
	for _, o := range opts {
		if o == "nomatch" {
			e.NoMatch = true
		}
	}
	if len(s.Dims) == 1 && s.Dims[0] == DimSet {
		e.Values = []Value{{SetName: member}}
		return e, nil
	}
	parts := strings.Split(member, ",")
	if len(parts) != len(s.Dims) {
		return e, fmt.Errorf("member %q has %d values, type %s wants %d", member, len(parts), s.Type, len(s.Dims))
	}
	for i, d := range s.Dims {
		v, err := parseValue(d, parts[i])
		if err != nil {
			return e, fmt.Errorf("member %q: %w", member, err)
		}
		e.Values = append(e.Values, v)
	}
	return e, nil
}

var protos = map[string]uint8{"tcp": 6, "udp": 17, "sctp": 132, "udplite": 136, "icmp": 1, "icmpv6": 58}

func parseValue(dim, text string) (Value, error) {
	var v Value
	switch dim {
	case DimIP, DimNet:
		if lo, hi, ok := strings.Cut(text, "-"); ok {
			a, err := netip.ParseAddr(lo)
			if err != nil {
				return v, fmt.Errorf("address range %q: %w", text, err)
			}
			b, err := netip.ParseAddr(hi)
			if err != nil {
				return v, fmt.Errorf("address range %q: %w", text, err)
			}
			v.Net, v.Last = netip.PrefixFrom(a, a.BitLen()), b
			return v, nil
		}
		if strings.Contains(text, "/") {
			p, err := netip.ParsePrefix(text)
			if err != nil {
				return v, fmt.Errorf("network %q: %w", text, err)
			}
			v.Net = p.Masked()
			return v, nil
		}
		a, err := netip.ParseAddr(text)
		if err != nil {
			return v, fmt.Errorf("address %q: %w", text, err)
		}
		v.Net = netip.PrefixFrom(a, a.BitLen())
	case DimPort:
		proto, port, ok := strings.Cut(text, ":")
		if !ok {
			port, proto = text, "tcp"
		}
		p, known := protos[proto]
		if !known {
			n, err := strconv.ParseUint(proto, 10, 8)
			if err != nil {
				return v, fmt.Errorf("protocol %q", proto)
			}
			p = uint8(n)
		}
		v.Proto = p
		lo, hi, isRange := strings.Cut(port, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			if p == 1 || p == 58 {
				// ICMP type names; the evaluator has no ICMP type in a port dimension.
				v.Port, v.PortEnd = 0, 0
				return v, nil
			}
			return v, fmt.Errorf("port %q: %w", text, err)
		}
		v.Port, v.PortEnd = uint16(a), uint16(a)
		if isRange {
			b, err := strconv.ParseUint(hi, 10, 16)
			if err != nil {
				return v, fmt.Errorf("port range %q: %w", text, err)
			}
			v.PortEnd = uint16(b)
		}
	case DimMark:
		m, err := strconv.ParseUint(text, 0, 32)
		if err != nil {
			return v, fmt.Errorf("mark %q: %w", text, err)
		}
		v.Mark = uint32(m)
	case DimIface:
		v.Iface = strings.TrimPrefix(text, "physdev:")
	case DimMAC:
		v.Iface = strings.ToLower(text)
	}
	return v, nil
}

// Test reports whether the probes are a member of the named set, one probe per dimension
// (extra probes are ignored, as the kernel does). It errs when the set does not exist or
// the probes are fewer than the set's dimensions.
func (s *Sets) Test(name string, probes []Probe) (bool, error) {
	return s.test(name, probes, 0)
}

func (s *Sets) test(name string, probes []Probe, depth int) (bool, error) {
	if s == nil {
		return false, fmt.Errorf("set %s: no ipsets in the snapshot", name)
	}
	set := s.ByName[name]
	if set == nil {
		return false, fmt.Errorf("set %s does not exist", name)
	}
	if set.Dims[0] == DimSet {
		if depth > 8 {
			return false, fmt.Errorf("set %s: list:set nested too deep", name)
		}
		for _, e := range set.Entries {
			ok, err := s.test(e.Values[0].SetName, probes, depth+1)
			if err != nil {
				return false, err
			}
			if ok {
				return true, nil
			}
		}
		return false, nil
	}
	if len(probes) < len(set.Dims) {
		return false, fmt.Errorf("set %s of type %s needs %d values, the match gives %d", name, set.Type, len(set.Dims), len(probes))
	}
	if set.ips[probes[0].Addr] && len(set.Dims) == 1 {
		return true, nil
	}
	// The most specific matching entry decides, so that a nomatch network inside a wider
	// member excludes its addresses.
	best, bestBits, found := Entry{}, -1, false
	for _, e := range set.Entries {
		bits, ok := e.covers(set.Dims, probes)
		if ok && bits > bestBits {
			best, bestBits, found = e, bits, true
		}
	}
	return found && !best.NoMatch, nil
}

// covers reports whether an entry holds the probes, and how specific its address
// dimensions are (the sum of their prefix lengths).
func (e Entry) covers(dims []string, probes []Probe) (int, bool) {
	bits := 0
	for i, d := range dims {
		v, p := e.Values[i], probes[i]
		switch d {
		case DimIP, DimNet:
			if v.Last.IsValid() {
				if p.Addr.Less(v.Net.Addr()) || v.Last.Less(p.Addr) {
					return 0, false
				}
				bits += v.Net.Bits()
				continue
			}
			if !v.Net.Contains(p.Addr) {
				return 0, false
			}
			bits += v.Net.Bits()
		case DimPort:
			if p.Port < v.Port || p.Port > v.PortEnd || (v.Proto != 0 && p.Proto != v.Proto) {
				return 0, false
			}
		case DimMark:
			if p.Mark != v.Mark {
				return 0, false
			}
		case DimIface, DimMAC:
			if p.Iface != v.Iface {
				return 0, false
			}
		}
	}
	return bits, true
}
