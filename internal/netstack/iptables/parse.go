package iptables

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
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
	p.rs.notUnderstood = p.rs.findNotUnderstood()
	p.rs.indexDestinations()
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
