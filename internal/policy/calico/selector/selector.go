package selector

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// MaxLength bounds the text Parse accepts; Calico's API validation allows far less per
// field, so anything longer is not a selector a cluster can hold.
const MaxLength = 64 << 10

// maxDepth bounds the nesting of parentheses, so that a hostile selector cannot exhaust the
// stack.
const maxDepth = 128

// Labels are the labels a selector is evaluated on.
type Labels map[string]string

// Selector is a parsed selector.
type Selector struct{ root node }

// All is the selector that selects everything (Calico's empty selector and `all()`).
func All() *Selector { return &Selector{root: allNode{}} }

// Matches reports whether the labels satisfy the selector.
func (s *Selector) Matches(l Labels) bool { return s.root.eval(l) }

// String writes the selector back in Calico's canonical spelling; it parses to an equal
// selector.
func (s *Selector) String() string { return s.root.String() }

// IsAll reports whether the selector is exactly `all()` (or empty).
func (s *Selector) IsAll() bool {
	_, ok := s.root.(allNode)
	return ok
}

// IsGlobal reports whether the selector is exactly `global()`.
func (s *Selector) IsGlobal() bool {
	_, ok := s.root.(globalNode)
	return ok
}

// Prefixed returns the selector with every label name prefixed, as Calico rewrites a
// namespaceSelector ("pcns.") or a serviceAccountSelector ("pcsa.") before it matches
// endpoints' inherited labels. `all()` becomes all and `global()` stays.
func (s *Selector) Prefixed(prefix string) *Selector {
	return &Selector{root: prefixNode(s.root, prefix)}
}

// And returns the conjunction of the selectors; nil ones are left out, and none is All.
func And(sels ...*Selector) *Selector {
	var out node
	for _, s := range sels {
		if s == nil || s.IsAll() {
			continue
		}
		if out == nil {
			out = s.root
			continue
		}
		out = andNode{out, s.root}
	}
	if out == nil {
		return All()
	}
	return &Selector{root: out}
}

// Not returns the negation of s.
func Not(s *Selector) *Selector { return &Selector{root: notNode{s.root}} }

// Equal returns the selector `key == "value"`.
func Equal(key, value string) *Selector {
	return &Selector{root: cmpNode{op: tokEq, key: key, value: value}}
}

// Has returns the selector `has(key)`.
func Has(key string) *Selector { return &Selector{root: hasNode{key}} }

// In returns the selector `key in {values}`.
func In(key string, values ...string) *Selector {
	return &Selector{root: setNode{key: key, values: sortedSet(values)}}
}

// Parse parses a selector; the empty string (or only blanks) selects everything.
func Parse(text string) (*Selector, error) {
	if len(text) > MaxLength {
		return nil, fmt.Errorf("selector of %d bytes is longer than %d", len(text), MaxLength)
	}
	toks, err := tokenize(text)
	if err != nil {
		return nil, fmt.Errorf("selector %q: %w", text, err)
	}
	if len(toks) == 1 {
		return All(), nil
	}
	p := &parser{toks: toks}
	n, err := p.or(0)
	if err != nil {
		return nil, fmt.Errorf("selector %q: %w", text, err)
	}
	if p.peek().kind != tokEOF {
		return nil, fmt.Errorf("selector %q: unexpected %s after the expression", text, p.peek())
	}
	return &Selector{root: n}, nil
}

// MustParse is Parse for selectors known to be valid; it panics on an error.
func MustParse(text string) *Selector {
	s, err := Parse(text)
	if err != nil {
		panic(err)
	}
	return s
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

var errTooDeep = errors.New("parentheses nested too deep")

func (p *parser) or(depth int) (node, error) {
	n, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tokOr {
		p.next()
		r, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		n = orNode{n, r}
	}
	return n, nil
}

func (p *parser) and(depth int) (node, error) {
	n, err := p.operation(depth)
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tokAnd {
		p.next()
		r, err := p.operation(depth)
		if err != nil {
			return nil, err
		}
		n = andNode{n, r}
	}
	return n, nil
}

// operation is one term: leading `!`s collapse to one negation, as Calico's parser does.
func (p *parser) operation(depth int) (node, error) {
	negated := false
	for p.peek().kind == tokNot {
		p.next()
		negated = !negated
	}
	n, err := p.term(depth)
	if err != nil {
		return nil, err
	}
	if negated {
		return notNode{n}, nil
	}
	return n, nil
}

func (p *parser) term(depth int) (node, error) {
	t := p.next()
	switch t.kind {
	case tokHas:
		return hasNode{t.value}, nil
	case tokAll:
		return allNode{}, nil
	case tokGlobal:
		return globalNode{}, nil
	case tokLParen:
		if depth >= maxDepth {
			return nil, errTooDeep
		}
		n, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tokRParen {
			return nil, fmt.Errorf("expected ) but found %s", c)
		}
		return n, nil
	case tokLabel:
		return p.comparison(t.value)
	}
	return nil, fmt.Errorf("expected a label, has(), all(), global(), ! or ( but found %s", t)
}

func (p *parser) comparison(key string) (node, error) {
	op := p.next()
	switch op.kind {
	case tokEq, tokNe, tokContains, tokStartsWith, tokEndsWith:
		v := p.next()
		if v.kind != tokString {
			return nil, fmt.Errorf("expected a quoted string after %s %s but found %s", key, op, v)
		}
		return cmpNode{op: op.kind, key: key, value: v.value}, nil
	case tokIn, tokNotIn:
		if b := p.next(); b.kind != tokLBrace {
			return nil, fmt.Errorf("expected { after %s %s but found %s", key, op, b)
		}
		var values []string
		for p.peek().kind != tokRBrace {
			v := p.next()
			if v.kind != tokString {
				return nil, fmt.Errorf("expected a quoted string in the set of %s but found %s", key, v)
			}
			values = append(values, v.value)
			if p.peek().kind == tokComma {
				p.next()
			}
		}
		p.next()
		n := setNode{key: key, values: sortedSet(values)}
		if op.kind == tokNotIn {
			n.not = true
		}
		return n, nil
	}
	return nil, fmt.Errorf("expected an operator after label %s but found %s", key, op)
}

func sortedSet(values []string) []string {
	out := slices.Clone(values)
	slices.Sort(out)
	return slices.Compact(out)
}

type node interface {
	eval(Labels) bool
	String() string
}

type allNode struct{}

func (allNode) eval(Labels) bool { return true }
func (allNode) String() string   { return "all()" }

type globalNode struct{}

func (globalNode) eval(Labels) bool { return true }
func (globalNode) String() string   { return "global()" }

type hasNode struct{ key string }

func (n hasNode) eval(l Labels) bool { _, ok := l[n.key]; return ok }
func (n hasNode) String() string     { return "has(" + n.key + ")" }

type cmpNode struct {
	op         kind
	key, value string
}

func (n cmpNode) eval(l Labels) bool {
	v, ok := l[n.key]
	if !ok {
		return n.op == tokNe
	}
	switch n.op {
	case tokEq:
		return v == n.value
	case tokNe:
		return v != n.value
	case tokContains:
		return strings.Contains(v, n.value)
	case tokStartsWith:
		return strings.HasPrefix(v, n.value)
	case tokEndsWith:
		return strings.HasSuffix(v, n.value)
	}
	return false
}

func (n cmpNode) String() string { return n.key + " " + n.op.String() + " " + quote(n.value) }

type setNode struct {
	key    string
	values []string
	not    bool
}

func (n setNode) eval(l Labels) bool {
	v, ok := l[n.key]
	if !ok {
		return n.not
	}
	_, found := slices.BinarySearch(n.values, v)
	return found != n.not
}

func (n setNode) String() string {
	qs := make([]string, len(n.values))
	for i, v := range n.values {
		qs[i] = quote(v)
	}
	op := "in"
	if n.not {
		op = "not in"
	}
	return n.key + " " + op + " {" + strings.Join(qs, ", ") + "}"
}

type notNode struct{ n node }

func (n notNode) eval(l Labels) bool { return !n.n.eval(l) }
func (n notNode) String() string {
	if _, double := n.n.(notNode); double {
		// "!!x" would parse back as x with the negations collapsed.
		return "!(" + n.n.String() + ")"
	}
	return "!" + group(n.n)
}

type andNode struct{ l, r node }

func (n andNode) eval(l Labels) bool { return n.l.eval(l) && n.r.eval(l) }
func (n andNode) String() string     { return group(n.l) + " && " + group(n.r) }

type orNode struct{ l, r node }

func (n orNode) eval(l Labels) bool { return n.l.eval(l) || n.r.eval(l) }
func (n orNode) String() string     { return group(n.l) + " || " + group(n.r) }

// group parenthesises compound terms, so that String never depends on precedence.
func group(n node) string {
	switch n.(type) {
	case andNode, orNode:
		return "(" + n.String() + ")"
	}
	return n.String()
}

// quote writes a string literal in the quote it does not contain (the language has no
// escapes, so a value cannot hold both).
func quote(v string) string {
	if strings.Contains(v, `"`) {
		return "'" + v + "'"
	}
	return `"` + v + `"`
}

func prefixNode(n node, prefix string) node {
	switch n := n.(type) {
	case hasNode:
		return hasNode{prefix + n.key}
	case cmpNode:
		n.key = prefix + n.key
		return n
	case setNode:
		n.key = prefix + n.key
		return n
	case notNode:
		return notNode{prefixNode(n.n, prefix)}
	case andNode:
		return andNode{prefixNode(n.l, prefix), prefixNode(n.r, prefix)}
	case orNode:
		return orNode{prefixNode(n.l, prefix), prefixNode(n.r, prefix)}
	}
	return n
}

// Rewritten returns the selector with every label name prefixed and `all()` and `global()`
// replaced, as Calico turns a rule's namespaceSelector into a selector on endpoints'
// inherited labels (`all()`: any namespaced endpoint; `global()`: none).
func (s *Selector) Rewritten(prefix string, all, global *Selector) *Selector {
	return &Selector{root: rewrite(s.root, prefix, all.root, global.root)}
}

func rewrite(n node, prefix string, all, global node) node {
	switch n := n.(type) {
	case allNode:
		return all
	case globalNode:
		return global
	case notNode:
		return notNode{rewrite(n.n, prefix, all, global)}
	case andNode:
		return andNode{rewrite(n.l, prefix, all, global), rewrite(n.r, prefix, all, global)}
	case orNode:
		return orNode{rewrite(n.l, prefix, all, global), rewrite(n.r, prefix, all, global)}
	}
	return prefixNode(n, prefix)
}
