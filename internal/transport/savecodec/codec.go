package savecodec

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// Format is the version of the layout Encode writes, its first byte.
const Format byte = 1

// MaxTextSize bounds what Decode writes, so that a small, hostile input (a long name
// referenced many times) cannot exhaust memory.
const MaxTextSize = 256 << 20

// Line kinds: the first byte of every line of the skeleton stream.
const (
	kindLiteral   = 'L' // the line as it is
	kindDecl      = 'D' // ":NAME POLICY [p:b]" with a name not seen before
	kindDeclAgain = 'd' // the same with a known name (a chain in a second table)
	kindRule      = 'R' // "[p:b] -A CHAIN REST", as iptables-save -c prints a rule
	kindRuleBare  = 'r' // "-A CHAIN REST", as iptables-save prints it without -c
	kindBlocks    = 'B' // the rules that follow are a table's, reordered chain by chain
)

// placeholder stands for a chain name in a rule's text; the name is the next reference in
// the targets stream. Lines holding the byte themselves are kept literal.
const placeholder = 0

// recent is how many of the last named chains a reference can name by their position
// (KUBE-MARK-MASQ and the like recur close together).
const recent = 8

// Streams, in the order they are laid out.
//
// Names are front-coded: a name's length and the length of the prefix it shares with the
// previous name go to one stream, the rest of it to another, so that the hashes kube-proxy
// names its chains with are a stream of random letters and nothing else, which an entropy
// coder packs at five bits a letter.
const (
	streamNameLens = iota // per name: uvarint(shared prefix), uvarint(length)
	streamNames           // per name: the bytes after the shared prefix
	streamSkeleton        // kind byte and the rest of the text, one line per line or rule
	streamChains          // a loose rule's chain: zigzag delta from the previous one's
	streamBlocks          // the number of rules of each chain of a reordered table
	streamTargets         // references to names: a position among the recent, or recent
	streamIndices         // the name of a reference to recent: its index, big-endian
	streamCounters        // uvarint packets, uvarint bytes
	streamCount
)

var streamNamesText = [streamCount]string{"name lengths", "names", "skeleton", "chains", "blocks", "targets", "indices", "counters"}

// rule is a parsed rule line.
type rule struct {
	kind            byte
	packets, octets uint64
	chain           int    // index of the chain's name
	tail            string // the text after the chain's name
}

type encoder struct {
	streams   [streamCount][]byte
	index     map[string]int
	names     int
	lastName  string
	lastChain int
	// decls are the names declared by the declaration lines just before, in order: the
	// chains of the table whose rules may follow.
	decls []int
	mtf   mtf
}

// Encode rewrites text into the codec's form. It accepts any text and never fails; a
// general-purpose compressor is meant to follow.
func Encode(text string) []byte {
	e := &encoder{index: map[string]int{}, mtf: newMTF()}
	e.streams[streamSkeleton] = make([]byte, 0, len(text)/2)
	lines := strings.Split(text, "\n")
	var run []rule
	for i := 0; i < len(lines); {
		run = run[:0]
		for ; i < len(lines); i++ {
			r, ok := e.parseRule(lines[i])
			if !ok {
				break
			}
			run = append(run, r)
		}
		if len(run) > 0 {
			e.rules(run)
			continue
		}
		e.line(lines[i])
		i++
	}
	size := 1
	for _, s := range e.streams {
		size += binary.MaxVarintLen64 + len(s)
	}
	out := make([]byte, 0, size)
	out = append(out, Format)
	for _, s := range e.streams {
		out = binary.AppendUvarint(out, uint64(len(s)))
	}
	for _, s := range e.streams {
		out = append(out, s...)
	}
	return out
}

// skeletonLine starts a line of the skeleton with its kind.
func (e *encoder) skeletonLine(kind byte) {
	if len(e.streams[streamSkeleton]) > 0 {
		e.streams[streamSkeleton] = append(e.streams[streamSkeleton], '\n')
	}
	e.streams[streamSkeleton] = append(e.streams[streamSkeleton], kind)
}

// line encodes a line that is not a rule.
func (e *encoder) line(line string) {
	if line != "" && line[0] == ':' && strings.IndexByte(line, placeholder) < 0 && e.decl(line) {
		return
	}
	e.decls = e.decls[:0]
	e.skeletonLine(kindLiteral)
	e.streams[streamSkeleton] = append(e.streams[streamSkeleton], line...)
}

// decl encodes ":NAME POLICY [p:b]".
func (e *encoder) decl(line string) bool {
	name, rest, ok := strings.Cut(line[1:], " ")
	if !ok || name == "" {
		return false
	}
	sp := strings.LastIndexByte(rest, ' ')
	if sp < 0 {
		return false
	}
	policy := rest[:sp]
	packets, octets, ok := parseCounters(rest[sp+1:])
	if !ok {
		return false
	}
	idx, known := e.index[name]
	if known {
		e.skeletonLine(kindDeclAgain)
		e.target(idx)
	} else {
		e.skeletonLine(kindDecl)
		idx = e.addName(name)
	}
	e.decls = append(e.decls, idx)
	e.streams[streamSkeleton] = append(e.streams[streamSkeleton], policy...)
	e.counters(packets, octets)
	return true
}

// parseRule parses "[p:b] -A CHAIN REST" and "-A CHAIN REST" where CHAIN was declared.
func (e *encoder) parseRule(line string) (rule, bool) {
	if line == "" || (line[0] != '[' && !strings.HasPrefix(line, "-A ")) || strings.IndexByte(line, placeholder) >= 0 {
		return rule{}, false
	}
	r := rule{kind: kindRuleBare}
	rest := line
	if line[0] == '[' {
		end := strings.IndexByte(line, ']')
		if end < 0 {
			return rule{}, false
		}
		var ok bool
		if r.packets, r.octets, ok = parseCounters(line[:end+1]); !ok {
			return rule{}, false
		}
		r.kind, rest = kindRule, line[end+1:]
		if rest, ok = strings.CutPrefix(rest, " "); !ok {
			return rule{}, false
		}
	}
	rest, ok := strings.CutPrefix(rest, "-A ")
	if !ok {
		return rule{}, false
	}
	chain := rest
	if sp := strings.IndexByte(rest, ' '); sp >= 0 {
		chain, r.tail = rest[:sp], rest[sp:]
	}
	if r.chain, ok = e.index[chain]; !ok {
		return rule{}, false
	}
	return r, true
}

// rules encodes a run of rule lines. iptables-save prints a table's rules chain by chain in
// the order it declared the chains; such a run is written chain by chain in the order the
// rules jump (a chain's rules right after the rules of the first chain that jumps to it),
// so that what a jump's source and target share (a service's name, an endpoint's address)
// sits close together. The decoder puts the chains back in declaration order. Any other
// run is written as it is, each rule with its chain.
func (e *encoder) rules(run []rule) {
	decls := e.decls
	e.decls = e.decls[:0]
	pos := make(map[int]int, len(decls))
	for p, idx := range decls {
		if _, dup := pos[idx]; dup {
			pos = nil
			break
		}
		pos[idx] = p
	}
	// blocks[p] are the rules of the chain declared at p.
	blocks := make([][]rule, len(decls))
	last := 0
	for start := 0; pos != nil && start < len(run); {
		p, ok := pos[run[start].chain]
		if !ok || p < last {
			pos = nil
			break
		}
		end := start + 1
		for end < len(run) && run[end].chain == run[start].chain {
			end++
		}
		blocks[p], last, start = run[start:end], p+1, end
	}
	if pos == nil {
		for _, r := range run {
			e.streams[streamChains] = binary.AppendUvarint(e.streams[streamChains], zigzag(r.chain-e.lastChain))
			e.lastChain = r.chain
			e.rule(r, nil)
		}
		return
	}
	e.skeletonLine(kindBlocks)
	// Writing cannot fail.
	_ = walkRules(len(decls), pos, blockWriter{e, blocks})
}

// blockWriter writes a table's rules chain by chain, as walkRules orders them.
type blockWriter struct {
	e      *encoder
	blocks [][]rule
}

func (w blockWriter) chain(p int) (int, error) {
	n := len(w.blocks[p])
	w.e.streams[streamBlocks] = binary.AppendUvarint(w.e.streams[streamBlocks], uint64(n))
	return n, nil
}

func (w blockWriter) rule(p, i int, targets []int) ([]int, error) {
	return w.e.rule(w.blocks[p][i], targets), nil
}

// chainWalker writes or reads the rules of a table's chains.
type chainWalker interface {
	// chain writes or reads how many rules the chain declared at position p has.
	chain(p int) (int, error)
	// rule writes or reads rule i of the chain declared at p, and appends the names it
	// refers to, in order, to targets.
	rule(p, i int, targets []int) ([]int, error)
}

// walkRules visits the rules of a table whose chains are declared at positions 0..n-1,
// pos mapping a name's index to its position. Chains come in declaration order, except
// that right after a rule come the rules of the chains it jumps to that were not visited
// yet, depth first: a service's rule, then its service chain's rules, each followed by
// its endpoint chain's. Encoder and decoder share it, so both see the rules in one order.
func walkRules(n int, pos map[int]int, w chainWalker) error {
	type frame struct{ p, i, n int }
	done := make([]bool, n)
	var stack []frame
	var targets []int
	// push starts chain p, unless it was started before.
	push := func(p int) error {
		if done[p] {
			return nil
		}
		done[p] = true
		count, err := w.chain(p)
		if err != nil {
			return err
		}
		stack = append(stack, frame{p: p, n: count})
		return nil
	}
	for p := range n {
		if err := push(p); err != nil {
			return err
		}
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if f.i == f.n {
				stack = stack[:len(stack)-1]
				continue
			}
			var err error
			if targets, err = w.rule(f.p, f.i, targets[:0]); err != nil {
				return err
			}
			f.i++
			// The first target's chain is to come first, so it is pushed last.
			for i := len(targets) - 1; i >= 0; i-- {
				if t, ok := pos[targets[i]]; ok {
					if err := push(t); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// rule writes a rule's skeleton line and streams, except its chain, and appends the names
// it refers to, in order, to targets.
func (e *encoder) rule(r rule, targets []int) []int {
	e.skeletonLine(r.kind)
	if r.kind == kindRule {
		e.counters(r.packets, r.octets)
	}
	skel := e.streams[streamSkeleton]
	// Every space-separated token that is a known name becomes a reference; splitting on
	// single spaces and joining them again gives back the text exactly.
	tail := r.tail
	for {
		sp := strings.IndexByte(tail, ' ')
		tok := tail
		if sp >= 0 {
			tok = tail[:sp]
		}
		if idx, ok := e.index[tok]; ok {
			skel = append(skel, placeholder)
			e.target(idx)
			targets = append(targets, idx)
		} else {
			skel = append(skel, tok...)
		}
		if sp < 0 {
			break
		}
		skel = append(skel, ' ')
		tail = tail[sp+1:]
	}
	e.streams[streamSkeleton] = skel
	return targets
}

func (e *encoder) addName(name string) int {
	n := 0
	for n < len(name) && n < len(e.lastName) && name[n] == e.lastName[n] {
		n++
	}
	s := binary.AppendUvarint(e.streams[streamNameLens], uint64(n))
	e.streams[streamNameLens] = binary.AppendUvarint(s, uint64(len(name)))
	e.streams[streamNames] = append(e.streams[streamNames], name[n:]...)
	idx := e.names
	e.index[name] = idx
	e.names++
	e.lastName = name
	return idx
}

func (e *encoder) target(idx int) {
	code := e.mtf.encode(idx)
	e.streams[streamTargets] = append(e.streams[streamTargets], byte(code))
	if code == recent {
		for shift := 8 * (indexWidth(e.names) - 1); shift >= 0; shift -= 8 {
			e.streams[streamIndices] = append(e.streams[streamIndices], byte(idx>>shift))
		}
	}
}

func (e *encoder) counters(packets, octets uint64) {
	s := binary.AppendUvarint(e.streams[streamCounters], packets)
	e.streams[streamCounters] = binary.AppendUvarint(s, octets)
}

// parseCounters parses "[packets:bytes]" written as iptables-save writes them: decimal
// without leading zeros, so that formatting them again gives the same text.
func parseCounters(s string) (packets, octets uint64, ok bool) {
	inner, found := strings.CutPrefix(s, "[")
	if !found {
		return 0, 0, false
	}
	if inner, found = strings.CutSuffix(inner, "]"); !found {
		return 0, 0, false
	}
	p, b, found := strings.Cut(inner, ":")
	if !found {
		return 0, 0, false
	}
	if packets, ok = parseCanonical(p); !ok {
		return 0, 0, false
	}
	if octets, ok = parseCanonical(b); !ok {
		return 0, 0, false
	}
	return packets, octets, true
}

func parseCanonical(s string) (uint64, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}

func zigzag(v int) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

func unzigzag(u uint64) int { return int(u>>1) ^ -int(u&1) }

// mtf keeps the most recently referenced names, most recent first; -1 is an empty slot.
type mtf [recent]int

func newMTF() mtf {
	var m mtf
	for i := range m {
		m[i] = -1
	}
	return m
}

// encode returns the reference for name idx, its position among the recent names or
// recent when it is not among them, and makes it the most recent.
func (m *mtf) encode(idx int) int {
	for pos, v := range m {
		if v == idx {
			m.front(pos, idx)
			return pos
		}
	}
	m.front(recent-1, idx)
	return recent
}

// recent returns the name at position pos among the recent names and makes it the most
// recent.
func (m *mtf) recent(pos int) (int, error) {
	idx := m[pos]
	if idx < 0 {
		return 0, fmt.Errorf("reference to recent name %d, which is unset", pos)
	}
	m.front(pos, idx)
	return idx, nil
}

// indexWidth is how many bytes a name's index takes when there are names of them: the
// width grows with the table, so that a small table pays one byte and kube-proxy's large
// ones two or three.
func indexWidth(names int) int {
	w := 1
	for n := names - 1; n > 0xff; n >>= 8 {
		w++
	}
	return w
}

// front moves the entry at pos (dropping it) to the front as idx.
func (m *mtf) front(pos, idx int) {
	copy(m[1:pos+1], m[:pos])
	m[0] = idx
}
