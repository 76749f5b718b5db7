package service

import (
	"bufio"
	"fmt"
	"net/netip"
	"strings"
)

// The service processor reads iptables-save text itself, for the nat and filter rules that
// kube-proxy writes and the chains they pass through. It keeps every rule as saved, so the
// evidence it prints is the snapshot's own text; options it does not know are kept too and
// make the rule "not understood" where it decides, never a silent match or miss.

// ruleset is an iptables-save text: chains by table and name.
type ruleset struct {
	tables map[string]map[string]*chain
}

type chain struct {
	table, name string
	// policy is ACCEPT/DROP for a built-in chain, empty for a user chain.
	policy string
	rules  []*rule
}

type rule struct {
	chain string
	// text is the rule as saved, counters included when the save had them.
	text string
	// conds are the header matches and the -m modules, in order.
	conds []cond
	// target is the -j/-g target; targetOpts its options.
	target     string
	gotoChain  bool
	targetOpts map[string]string
	comment    string
}

// cond is one match: a header match (-s, -d, -p, -i, -o) or one option of a -m module.
type cond struct {
	module string // "" for header matches
	opt    string // "-s", "--dport", ...
	neg    bool
	args   []string
	// pfx is the parsed address of -s and -d; invalid when it did not parse.
	pfx netip.Prefix
}

func (r *rule) String() string { return r.text }

// parseRuleset parses iptables-save output. Lines it cannot read are errors that name the
// line, so that a damaged snapshot is reported, not half-trusted.
func parseRuleset(text string) (*ruleset, error) {
	rs := &ruleset{tables: map[string]map[string]*chain{}}
	var table string
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#':
		case line[0] == '*':
			table = line[1:]
			if rs.tables[table] == nil {
				rs.tables[table] = map[string]*chain{}
			}
		case line == "COMMIT":
			table = ""
		case line[0] == ':':
			if table == "" {
				return nil, fmt.Errorf("line %d: chain outside a table: %q", n, line)
			}
			f := strings.Fields(line[1:])
			if len(f) < 2 {
				return nil, fmt.Errorf("line %d: malformed chain line %q", n, line)
			}
			c := rs.chain(table, f[0])
			if f[1] != "-" {
				c.policy = f[1]
			}
		default:
			if table == "" {
				return nil, fmt.Errorf("line %d: rule outside a table: %q", n, line)
			}
			r, err := parseRule(line)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			c := rs.chain(table, r.chain)
			c.rules = append(c.rules, r)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read iptables-save text: %w", err)
	}
	return rs, nil
}

func (rs *ruleset) chain(table, name string) *chain {
	t := rs.tables[table]
	if t == nil {
		t = map[string]*chain{}
		rs.tables[table] = t
	}
	c := t[name]
	if c == nil {
		c = &chain{table: table, name: name}
		t[name] = c
	}
	return c
}

// lookup returns a chain or nil.
func (rs *ruleset) lookup(table, name string) *chain {
	return rs.tables[table][name]
}

// parseRule parses one "[pkts:bytes] -A CHAIN ..." line.
func parseRule(line string) (*rule, error) {
	r := &rule{text: line}
	rest := line
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return nil, fmt.Errorf("unterminated counters in %q", line)
		}
		rest = strings.TrimSpace(rest[end+1:])
	}
	toks, err := tokenize(rest)
	if err != nil {
		return nil, fmt.Errorf("%w in %q", err, line)
	}
	if len(toks) < 2 || (toks[0] != "-A" && toks[0] != "--append") {
		return nil, fmt.Errorf("not an -A rule: %q", line)
	}
	r.chain = toks[1]
	module := ""
	neg := false
	for i := 2; i < len(toks); i++ {
		t := toks[i]
		// args takes the values of an option: the tokens up to the next option.
		args := func() []string {
			var a []string
			for i+1 < len(toks) && !isOption(toks[i+1]) {
				i++
				a = append(a, toks[i])
			}
			return a
		}
		switch t {
		case "!":
			neg = true
			continue
		case "-m", "--match":
			if i+1 >= len(toks) {
				return nil, fmt.Errorf("-m without a module in %q", line)
			}
			i++
			module = toks[i]
		case "-j", "--jump", "-g", "--goto":
			if i+1 >= len(toks) {
				return nil, fmt.Errorf("%s without a target in %q", t, line)
			}
			i++
			r.target = toks[i]
			r.gotoChain = t == "-g" || t == "--goto"
			r.targetOpts = map[string]string{}
			for i+1 < len(toks) {
				i++
				opt := toks[i]
				a := args()
				r.targetOpts[opt] = strings.Join(a, " ")
			}
		case "-s", "--source", "-d", "--destination", "-p", "--protocol", "-i", "--in-interface", "-o", "--out-interface":
			c := cond{opt: shortOpt(t), neg: neg, args: args()}
			if (c.opt == "-s" || c.opt == "-d") && len(c.args) == 1 {
				c.pfx = parsePrefix(c.args[0])
			}
			r.conds = append(r.conds, c)
			module = ""
		case "-f", "--fragment":
			r.conds = append(r.conds, cond{opt: "-f", neg: neg})
		default:
			if !strings.HasPrefix(t, "-") {
				return nil, fmt.Errorf("unexpected %q in %q", t, line)
			}
			c := cond{module: module, opt: t, neg: neg, args: args()}
			if module == "comment" && t == "--comment" {
				r.comment = strings.Join(c.args, " ")
			}
			r.conds = append(r.conds, c)
		}
		neg = false
	}
	return r, nil
}

func isOption(t string) bool { return t == "!" || (strings.HasPrefix(t, "-") && len(t) > 1) }

func shortOpt(t string) string {
	switch t {
	case "--source":
		return "-s"
	case "--destination":
		return "-d"
	case "--protocol":
		return "-p"
	case "--in-interface":
		return "-i"
	case "--out-interface":
		return "-o"
	}
	return t
}

// tokenize splits a rule as iptables-save quotes it: words, and "double quoted" strings with
// backslash escapes (comments). Unquoted words are substrings of s, not copies.
func tokenize(s string) ([]string, error) {
	out := make([]string, 0, 24)
	for i := 0; i < len(s); {
		switch s[i] {
		case ' ', '\t':
			i++
			continue
		}
		start := i
		for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '"' {
			i++
		}
		if i == len(s) || s[i] != '"' {
			out = append(out, s[start:i])
			continue
		}
		// A quoted part: unescape it, and join it with what is around it up to a space.
		var b strings.Builder
		b.WriteString(s[start:i])
		quoted := false
		for ; i < len(s); i++ {
			c := s[i]
			if quoted && c == '\\' && i+1 < len(s) {
				i++
				b.WriteByte(s[i])
				continue
			}
			if c == '"' {
				quoted = !quoted
				continue
			}
			if !quoted && (c == ' ' || c == '\t') {
				break
			}
			b.WriteByte(c)
		}
		if quoted {
			return nil, fmt.Errorf("unterminated quote")
		}
		out = append(out, b.String())
	}
	return out, nil
}
// builtinLike reports whether the chain has a policy (is one of the kernel's hook chains).
func (c *chain) builtinLike() bool { return c.policy != "" }

// parsePrefix reads an address or prefix as iptables prints it ("10.0.0.1/32", "10.0.0.0/8").
func parsePrefix(s string) netip.Prefix {
	if p, err := netip.ParsePrefix(s); err == nil {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked()
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
	}
	return netip.Prefix{}
}
