package iptables

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// Parse reads a ruleset as iptables-save prints it, with or without counters (-c), every
// table. A match or target it does not understand becomes an UnknownMatch or UnknownTarget
// that keeps its text; only text that is not an iptables-save at all (a rule outside a
// table, a chain line without a policy, an unterminated quote) is an error, naming the line.
//
// It reads in two passes: the tables, chains and the place of every rule first, then the
// rules themselves, split among the CPUs (a 100,000-rule save is parsed in parallel).
func Parse(save string) (*Ruleset, error) {
	p := structure{rs: &Ruleset{Tables: map[string]*Table{}}}
	// Room for every rule, so that the first pass appends without copying.
	p.rules = make([]Rule, 0, strings.Count(save, "-A ")+1)
	lineNo := 0
	for rest := save; rest != ""; {
		var line string
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			line, rest = rest, ""
		}
		lineNo++
		for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t' || line[len(line)-1] == '\r') {
			line = line[:len(line)-1]
		}
		p.rest = rest
		if err := p.line(line, lineNo); err != nil {
			return nil, fmt.Errorf("iptables-save line %d: %w", lineNo, err)
		}
	}
	if err := p.parseRules(); err != nil {
		return nil, err
	}
	return p.rs, nil
}

// structure is the first pass: tables, chains, policies, and every rule with its place.
type structure struct {
	rs    *Ruleset
	table *Table
	// last is the chain of the previous rule: rules come grouped by chain.
	last   *Chain
	chains block[Chain]
	// rules holds every rule with its place; the second pass parses them where they are.
	rules     []Rule
	scattered bool
	w         worker
	// rest is the text after the current line.
	rest string
}

func (p *structure) line(line string, n int) error {
	if line == "" || line[0] == '#' {
		return nil
	}
	switch line[0] {
	case '*':
		name := strings.TrimSpace(line[1:])
		if name == "" {
			return fmt.Errorf("table without a name")
		}
		t := p.rs.Tables[name]
		if t == nil {
			// Sized for the chains the table declares, which come before its COMMIT.
			body := p.rest
			if end := strings.Index(body, "\nCOMMIT"); end >= 0 {
				body = body[:end]
			}
			t = &Table{Name: name, Chains: make(map[string]*Chain, strings.Count(body, "\n:")+1)}
			p.rs.Tables[name] = t
		}
		p.table = t
		return nil
	case ':':
		if p.table == nil {
			return fmt.Errorf("chain %q outside a table", line)
		}
		f := fields(line[1:])
		if len(f) < 2 {
			return fmt.Errorf("chain line %q without a policy", line)
		}
		c := p.chain(f[0])
		if f[1] != "-" {
			c.Policy = f[1]
		}
		if len(f) >= 3 {
			if cnt, ok := parseCounters(f[2]); ok {
				c.PolicyCounters = cnt
			}
		}
		return nil
	}
	if line == "COMMIT" {
		p.table = nil
		return nil
	}
	if p.table == nil {
		return fmt.Errorf("rule %q outside a table", line)
	}
	var cnt Counters
	hasCnt := false
	if line[0] == '[' {
		end := strings.IndexByte(line, ']')
		if end < 0 {
			return fmt.Errorf("unterminated counters in %q", line)
		}
		var ok bool
		if cnt, ok = parseCounters(line[:end+1]); !ok {
			return fmt.Errorf("bad counters in %q", line)
		}
		hasCnt = true
		line = strings.TrimLeft(line[end+1:], " ")
	}
	cmd, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimLeft(rest, " ")
	name, _, _ := strings.Cut(rest, " ")
	if name == "" {
		return fmt.Errorf("short line %q", line)
	}
	switch cmd {
	case "-A", "--append":
		c := p.chain(name)
		if c.nRules == 0 {
			c.firstRule = len(p.rules)
		} else if c.firstRule+c.nRules != len(p.rules) {
			// Rules of this chain elsewhere before: not one run of lines.
			c.scattered, p.scattered = true, true
		}
		c.nRules++
		p.rules = append(p.rules, Rule{Table: p.table.Name, Chain: c.Name, Index: c.nRules, Line: n, Text: line, Counters: cnt, HasCounters: hasCnt})
		return nil
	case "-N", "--new-chain":
		p.chain(name)
		return nil
	case "-P", "--policy":
		toks, err := p.w.tokenize(line)
		if err != nil {
			return err
		}
		if len(toks) < 3 {
			return fmt.Errorf("policy without a verdict: %q", line)
		}
		p.chain(toks[1].s).Policy = toks[2].s
		return nil
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// fields splits a chain line (":NAME POLICY [p:b]") on spaces into at most 3 fields.
func fields(s string) []string {
	var out [3]string
	n := 0
	for n < 3 {
		for len(s) > 0 && s[0] == ' ' {
			s = s[1:]
		}
		if s == "" {
			break
		}
		i := strings.IndexByte(s, ' ')
		if i < 0 {
			i = len(s)
		}
		out[n], s = s[:i], s[i:]
		n++
	}
	return out[:n]
}

func (p *structure) chain(name string) *Chain {
	if p.last != nil && p.last.Name == name && p.last.Table == p.table.Name {
		return p.last
	}
	c := p.table.Chains[name]
	if c == nil {
		c = p.chains.next()
		*c = Chain{Table: p.table.Name, Name: name}
		p.table.Chains[name] = c
		p.table.Order = append(p.table.Order, c)
	}
	p.last = c
	return c
}

// parseRules is the second pass: every rule parsed where it is, the rules split among
// workers. Chains are complete by now, so the workers only read them.
func (p *structure) parseRules() error {
	rules := p.rules
	n := len(rules)
	if n == 0 {
		return nil
	}
	ptrs := make([]*Rule, n)
	for i := range rules {
		ptrs[i] = &rules[i]
	}
	// iptables-save writes each chain's rules as one run of lines: the chain's list is then
	// a window on ptrs.
	for _, t := range p.rs.Tables {
		for _, c := range t.Order {
			if c.nRules > 0 && !c.scattered {
				c.Rules = ptrs[c.firstRule : c.firstRule+c.nRules : c.firstRule+c.nRules]
			} else if c.nRules > 0 {
				c.Rules = make([]*Rule, c.nRules)
			}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), max(1, n/2000))
	errs := make([]error, workers)
	conntrack := make([]bool, workers)
	var wg sync.WaitGroup
	for k := range workers {
		lo, hi := k*n/workers, (k+1)*n/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			var w worker
			var tbl *Table
			for i := lo; i < hi; i++ {
				r := &rules[i]
				if tbl == nil || tbl.Name != r.Table {
					tbl = p.rs.Tables[r.Table]
				}
				if err := w.rule(r, tbl); err != nil {
					errs[k] = fmt.Errorf("iptables-save line %d: %w", r.Line, err)
					return
				}
				if !conntrack[k] && needsConntrack(r) {
					conntrack[k] = true
				}
			}
		}()
	}
	wg.Wait()
	for k := range workers {
		if errs[k] != nil {
			return errs[k]
		}
		p.rs.usesConntrack = p.rs.usesConntrack || conntrack[k]
	}
	if p.scattered {
		for i := range rules {
			if c := p.rs.Tables[rules[i].Table].Chains[rules[i].Chain]; c.scattered {
				c.Rules[rules[i].Index-1] = &rules[i]
			}
		}
	}
	p.rs.Rules = n
	return nil
}

// worker parses rules; each has its own scratch space and blocks.
type worker struct {
	// Scratch space reused from rule to rule.
	toks []token
	opts []option
	args []string
	// The block the rules' match lists are cut from.
	matches []Match
	alloc   allocator
}

type token struct {
	s      string
	quoted bool
	// start and end are the token's span in the line, quotes included.
	start, end int
}

// block hands out values cut from blocks of 256, so that a large ruleset costs few
// allocations.
type block[T any] struct{ buf []T }

func (b *block[T]) next() *T {
	if len(b.buf) == 0 {
		b.buf = make([]T, 256)
	}
	x := &b.buf[0]
	b.buf = b.buf[1:]
	return x
}

// allocator holds blocks for the matches and targets most rules have; nil allocates each
// on its own.
type allocator struct {
	comments   block[CommentMatch]
	l4         block[L4Match]
	statistics block[StatisticMatch]
	jumps      block[JumpTarget]
	nats       block[NATTarget]
}

func (a *allocator) comment() *CommentMatch {
	if a == nil {
		return new(CommentMatch)
	}
	return a.comments.next()
}

func (a *allocator) l4Match() *L4Match {
	if a == nil {
		return new(L4Match)
	}
	return a.l4.next()
}

func (a *allocator) statistic() *StatisticMatch {
	if a == nil {
		return new(StatisticMatch)
	}
	return a.statistics.next()
}

func (a *allocator) jump() *JumpTarget {
	if a == nil {
		return new(JumpTarget)
	}
	return a.jumps.next()
}

func (a *allocator) nat() *NATTarget {
	if a == nil {
		return new(NATTarget)
	}
	return a.nats.next()
}

// parseCounters reads "[packets:bytes]".
func parseCounters(s string) (Counters, bool) {
	if len(s) < 5 || s[0] != '[' || s[len(s)-1] != ']' {
		return Counters{}, false
	}
	pk, by, ok := strings.Cut(s[1:len(s)-1], ":")
	if !ok {
		return Counters{}, false
	}
	a, err1 := strconv.ParseUint(pk, 10, 64)
	b, err2 := strconv.ParseUint(by, 10, 64)
	return Counters{a, b}, err1 == nil && err2 == nil
}

// tokenize splits a rule on spaces as iptables-save writes it: a value with characters
// outside [A-Za-z0-9_-] is double-quoted, with \, " and ' escaped by a backslash.
func (p *worker) tokenize(line string) ([]token, error) {
	toks := p.toks[:0]
	i := 0
	for i < len(line) {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if i >= len(line) {
			break
		}
		if line[i] != '"' {
			j := i
			for j < len(line) && line[j] != ' ' {
				j++
			}
			toks = append(toks, token{s: line[i:j], start: i, end: j})
			i = j
			continue
		}
		// Quoted: copy only when there are escapes.
		j := i + 1
		escaped := false
		for j < len(line) && line[j] != '"' {
			if line[j] == '\\' && j+1 < len(line) {
				escaped = true
				j++
			}
			j++
		}
		if j >= len(line) {
			return nil, fmt.Errorf("unterminated quote in %q", line)
		}
		s := line[i+1 : j]
		if escaped {
			var b strings.Builder
			for k := 0; k < len(s); k++ {
				if s[k] == '\\' && k+1 < len(s) {
					k++
				}
				b.WriteByte(s[k])
			}
			s = b.String()
		}
		toks = append(toks, token{s: s, quoted: true, start: i, end: j + 1})
		i = j + 1
	}
	p.toks = toks
	return toks, nil
}

func isOption(t token) bool { return !t.quoted && len(t.s) > 1 && t.s[0] == '-' }

// rule parses one -A line into r, whose place the first pass set.
func (p *worker) rule(r *Rule, tbl *Table) error {
	text := r.Text
	toks, err := p.tokenize(text)
	if err != nil {
		return err
	}
	if cap(p.matches)-len(p.matches) < 16 {
		p.matches = make([]Match, 0, 4096)
	}
	first := len(p.matches)
	// Every element of the rule starts at a token index; the text of a module or target is
	// the span of the line from its first token to the next element.
	i := 2
	neg := false
	for i < len(toks) {
		t := toks[i]
		if t.s == "!" && !t.quoted {
			neg = true
			i++
			continue
		}
		start := i
		switch t.s {
		case "-s", "--source", "--src", "-d", "--destination", "--dst":
			if i+1 >= len(toks) {
				return fmt.Errorf("%s without an address", t.s)
			}
			pfx, ok := parseAddrOrPrefix(toks[i+1].s)
			if !ok {
				p.matches = append(p.matches, &UnknownMatch{base: base{module: "", text: spanText(text, toks, start, i+2, neg)}, Reason: "address " + toks[i+1].s})
			} else if t.s == "-s" || t.s == "--source" || t.s == "--src" {
				r.Header.Src, r.Header.NotSrc = pfx.Masked(), neg
			} else {
				r.Header.Dst, r.Header.NotDst = pfx.Masked(), neg
			}
			i += 2
		case "-i", "--in-interface", "-o", "--out-interface":
			if i+1 >= len(toks) {
				return fmt.Errorf("%s without an interface", t.s)
			}
			if t.s == "-i" || t.s == "--in-interface" {
				r.Header.In, r.Header.NotIn = toks[i+1].s, neg
			} else {
				r.Header.Out, r.Header.NotOut = toks[i+1].s, neg
			}
			i += 2
		case "-p", "--protocol":
			if i+1 >= len(toks) {
				return fmt.Errorf("%s without a protocol", t.s)
			}
			name := strings.ToLower(toks[i+1].s)
			num, ok := nf.ProtoNumber(name)
			if !ok {
				n, err := strconv.ParseUint(name, 10, 8)
				if err != nil {
					p.matches = append(p.matches, &UnknownMatch{base: base{text: spanText(text, toks, start, i+2, neg)}, Reason: "protocol " + name})
				}
				num = uint8(n)
			}
			r.Header.Proto, r.Header.ProtoName, r.Header.NotProto = num, name, neg
			i += 2
		case "-f", "--fragment":
			r.Header.Fragment = 1
			if neg {
				r.Header.Fragment = -1
			}
			i++
		case "-m", "--match":
			if i+1 >= len(toks) {
				return fmt.Errorf("%s without a module", t.s)
			}
			if neg {
				return fmt.Errorf("negated -m in %q", text)
			}
			module := toks[i+1].s
			opts, next := p.options(toks, i+2)
			p.matches = append(p.matches, p.alloc.newMatch(module, opts, spanText(text, toks, start, next, false)))
			i = next
		case "-j", "--jump", "-g", "--goto":
			if i+1 >= len(toks) {
				return fmt.Errorf("%s without a target", t.s)
			}
			name := toks[i+1].s
			opts, next := p.options(toks, i+2)
			r.Goto = t.s == "-g" || t.s == "--goto"
			r.Target = p.target(tbl, name, opts, spanText(text, toks, start, next, false), r.Goto)
			if r.Goto {
				if _, ok := r.Target.(*JumpTarget); !ok {
					r.Target = &UnknownTarget{tbase: tbase{name: name, text: spanText(text, toks, start, next, false)}, Reason: "goto to a chain that is not declared"}
				}
			}
			i = next
		default:
			// An option that belongs to no module: keep it, undecided.
			_, next := p.options(toks, i+1)
			if next == i+1 && i+1 < len(toks) && !isOption(toks[i+1]) {
				next = i + 2
			}
			p.matches = append(p.matches, &UnknownMatch{base: base{text: spanText(text, toks, start, next, neg)}, Reason: "option " + t.s})
			i = next
		}
		neg = false
	}
	// The matches went to the shared block; capped, so that an append to them copies.
	if len(p.matches) > first {
		r.Matches = p.matches[first:len(p.matches):len(p.matches)]
	}
	return nil
}

func needsConntrack(r *Rule) bool {
	for _, m := range r.Matches {
		switch m.Module() {
		case "conntrack", "state", "connmark", "connlimit", "connbytes", "helper", "cluster":
			return true
		}
	}
	switch t := r.Target.(type) {
	case *NATTarget:
		return true
	case *MarkTarget:
		return t.Conn
	case *ContinueTarget:
		return t.name == "CT" || t.name == "NOTRACK" || t.name == "CONNSECMARK"
	}
	return false
}

// target builds a rule's target.
func (p *worker) target(tbl *Table, name string, opts []option, text string, gotoChain bool) Target {
	return p.alloc.newTarget(name, opts, text, tbl.Chains)
}

// options collects the --options (with their arguments and negations) that follow a module
// or target, up to the next -m, -j, -g or header option.
func (p *worker) options(toks []token, i int) ([]option, int) {
	opts := p.opts[:0]
	args := p.args[:0]
	for i < len(toks) {
		neg := false
		j := i
		if toks[j].s == "!" && !toks[j].quoted {
			neg = true
			j++
		}
		if j >= len(toks) || !isOption(toks[j]) || !strings.HasPrefix(toks[j].s, "--") || isHeaderLong(toks[j].s) {
			break
		}
		o := option{name: toks[j].s, neg: neg}
		j++
		start := len(args)
		for j < len(toks) && !isOption(toks[j]) && !(toks[j].s == "!" && !toks[j].quoted) {
			args = append(args, toks[j].s)
			j++
		}
		// Old-style "--dport ! 80" negation after the option name.
		if j+1 < len(toks) && toks[j].s == "!" && !toks[j].quoted && len(args) == start && !isOption(toks[j+1]) {
			o.neg = true
			args = append(args, toks[j+1].s)
			j += 2
		}
		o.args = args[start:len(args):len(args)]
		opts = append(opts, o)
		i = j
	}
	p.opts, p.args = opts, args
	return opts, i
}

func isHeaderLong(s string) bool {
	switch s {
	case "--source", "--src", "--destination", "--dst", "--in-interface", "--out-interface",
		"--protocol", "--fragment", "--match", "--jump", "--goto":
		return true
	}
	return false
}

// spanText is the saved text of tokens [from, to) of line, with the "!" before them when
// negated: a slice of the line, not a copy.
func spanText(line string, toks []token, from, to int, neg bool) string {
	if from >= len(toks) {
		return ""
	}
	to = min(to, len(toks))
	start := toks[from].start
	if neg && from > 0 {
		start = toks[from-1].start
	}
	return line[start:toks[to-1].end]
}

// HeaderString prints the header matches as iptables-save would.
func (h Header) String() string {
	var parts []string
	add := func(neg bool, s ...string) {
		if neg {
			parts = append(parts, "!")
		}
		parts = append(parts, s...)
	}
	if h.Src.IsValid() {
		add(h.NotSrc, "-s", h.Src.String())
	}
	if h.Dst.IsValid() {
		add(h.NotDst, "-d", h.Dst.String())
	}
	if h.In != "" {
		add(h.NotIn, "-i", h.In)
	}
	if h.Out != "" {
		add(h.NotOut, "-o", h.Out)
	}
	if h.ProtoName != "" {
		add(h.NotProto, "-p", h.ProtoName)
	}
	if h.Fragment != 0 {
		add(h.Fragment < 0, "-f")
	}
	return strings.Join(parts, " ")
}

// match evaluates the header against a packet.
func (h *Header) match(p *nf.Packet) bool {
	if h.Src.IsValid() && h.Src.Contains(p.Src) == h.NotSrc {
		return false
	}
	if h.Dst.IsValid() && h.Dst.Contains(p.Dst) == h.NotDst {
		return false
	}
	if h.In != "" && IfaceMatch(h.In, p.In) == h.NotIn {
		return false
	}
	if h.Out != "" && IfaceMatch(h.Out, p.Out) == h.NotOut {
		return false
	}
	if h.ProtoName != "" && h.Proto != 0 && (p.Proto == h.Proto) == h.NotProto {
		return false
	}
	if h.Fragment != 0 && p.Fragment != (h.Fragment > 0) {
		return false
	}
	return true
}
