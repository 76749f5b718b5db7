package nftables

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// Ruleset is the parsed `nft -j list ruleset`.
type Ruleset struct {
	Tables []*Table
	// usesConntrack is set when a chain is of type nat or a rule reads or writes the
	// connection (a ct expression or statement).
	usesConntrack bool
	// notUnderstood are the rules compiling left a part of not understood, found once when
	// parsed: a cached ruleset serves many diagnoses.
	notUnderstood []*Rule
}

// UsesConntrack reports whether the ruleset makes the kernel track connections: a nat
// chain, or an expression that reads or writes the connection.
func (rs *Ruleset) UsesConntrack() bool { return rs != nil && rs.usesConntrack }

// Table is one nftables table with its chains and sets.
type Table struct {
	Family, Name string
	Chains       map[string]*Chain
	Order        []*Chain
	Sets         map[string]*Set
}

// Chain is a base chain (Hook set) or a regular one.
type Chain struct {
	Table *Table
	Name  string
	// Type is filter, nat or route; Hook prerouting, input, forward, output, postrouting.
	Type, Hook string
	Prio       int
	// Policy is accept or drop for a base chain.
	Policy string
	Rules  []*Rule
}

// Base reports whether the chain is attached to a hook.
func (c *Chain) Base() bool { return c.Hook != "" }

// Rule is one rule: its statements as the JSON has them.
type Rule struct {
	Table, Chain string
	Handle       int
	// Index is the rule's position in its chain, from 1.
	Index   int
	Comment string
	// Exprs are the statements, decoded from JSON.
	Exprs []any
	// NotUnderstood names the first expression of the rule the evaluator does not
	// understand, found when the ruleset was parsed; empty when it understands them all. A
	// packet that reaches the rule and could be decided by it ends Unknown.
	NotUnderstood string

	// stmts are Exprs compiled.
	stmts []statement
	// Packets and Bytes are the rule's counter, when it has one.
	Packets, Bytes uint64
	HasCounter     bool
}

// Ruleset names nftables as the rule's ruleset.
func (r *Rule) Ruleset() string { return nf.NFTables }

// Place is the rule's table and chain.
func (r *Rule) Place() (table, chain string) { return r.Table, r.Chain }

// String prints the rule's statements as compact JSON with its ruleset and place, for
// traces.
func (r *Rule) String() string {
	b, _ := json.Marshal(r.Exprs)
	s := fmt.Sprintf("nftables %s %s handle %d: %s", r.Table, r.Chain, r.Handle, b)
	if r.Comment != "" {
		s += " comment " + fmt.Sprintf("%q", r.Comment)
	}
	return s
}

// Set is a named set, or a map when Map is set ("verdict" for a verdict map).
type Set struct {
	Name string
	// Type is the key's type, one name per part of a concatenation.
	Type  []string
	Map   string
	Flags []string
	Elems []Elem

	// caches holds the elements read as the expressions that look them up read their keys
	// (by the hints' text), nil for a reading they do not fit; built while parsing.
	caches map[string]*setCache
}

// Elem is one element: its key and, for a map, its data.
type Elem struct {
	Key  any
	Data any
}

// Parse reads `nft -j list ruleset` output.
func Parse(text string) (*Ruleset, error) {
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return nil, fmt.Errorf("nft JSON: %w", err)
	}
	rs := &Ruleset{}
	tables := map[string]*Table{}
	table := func(family, name string) *Table {
		k := family + " " + name
		t := tables[k]
		if t == nil {
			t = &Table{Family: family, Name: name, Chains: map[string]*Chain{}, Sets: map[string]*Set{}}
			tables[k] = t
			rs.Tables = append(rs.Tables, t)
		}
		return t
	}
	chain := func(t *Table, name string) *Chain {
		c := t.Chains[name]
		if c == nil {
			c = &Chain{Table: t, Name: name}
			t.Chains[name] = c
			t.Order = append(t.Order, c)
		}
		return c
	}
	for i, obj := range doc.Nftables {
		for kind, raw := range obj {
			switch kind {
			case "metainfo":
			case "table":
				var t struct{ Family, Name string }
				if err := json.Unmarshal(raw, &t); err != nil {
					return nil, fmt.Errorf("object %d: table: %w", i, err)
				}
				table(t.Family, t.Name)
			case "chain":
				var c struct {
					Family, Table, Name, Type, Hook, Policy string
					Prio                                    int
				}
				if err := json.Unmarshal(raw, &c); err != nil {
					return nil, fmt.Errorf("object %d: chain: %w", i, err)
				}
				ch := chain(table(c.Family, c.Table), c.Name)
				ch.Type, ch.Hook, ch.Prio, ch.Policy = c.Type, c.Hook, c.Prio, c.Policy
			case "rule":
				var r struct {
					Family, Table, Chain, Comment string
					Handle                        int
					Expr                          []any
				}
				dec := json.NewDecoder(strings.NewReader(string(raw)))
				dec.UseNumber()
				if err := dec.Decode(&r); err != nil {
					return nil, fmt.Errorf("object %d: rule: %w", i, err)
				}
				c := chain(table(r.Family, r.Table), r.Chain)
				rule := &Rule{Table: r.Table, Chain: r.Chain, Handle: r.Handle, Index: len(c.Rules) + 1, Comment: r.Comment, Exprs: r.Expr}
				for _, e := range r.Expr {
					if m, ok := e.(map[string]any); ok {
						if cnt, ok := m["counter"].(map[string]any); ok {
							rule.Packets, rule.Bytes, rule.HasCounter = num(cnt["packets"]), num(cnt["bytes"]), true
						}
					}
				}
				c.Rules = append(c.Rules, rule)
			case "set", "map":
				var s struct {
					Family, Table, Name string
					Type                any
					Map                 any
					Flags               any
					Elem                []any
				}
				dec := json.NewDecoder(strings.NewReader(string(raw)))
				dec.UseNumber()
				if err := dec.Decode(&s); err != nil {
					return nil, fmt.Errorf("object %d: %s: %w", i, kind, err)
				}
				set := &Set{Name: s.Name, Type: strs(s.Type), Flags: strs(s.Flags)}
				if kind == "map" {
					set.Map = strings.Join(strs(s.Map), " . ")
				}
				for _, e := range s.Elem {
					if pair, ok := e.([]any); ok && len(pair) == 2 {
						set.Elems = append(set.Elems, Elem{Key: unwrapElem(pair[0]), Data: pair[1]})
					} else {
						set.Elems = append(set.Elems, Elem{Key: unwrapElem(e)})
					}
				}
				table(s.Family, s.Table).Sets[s.Name] = set
			default:
				// Flowtables, counters, quotas, ...: nothing the evaluator reads.
			}
		}
	}
	rs.compile()
	for _, t := range rs.Tables {
		for _, c := range t.Order {
			rs.usesConntrack = rs.usesConntrack || c.Type == "nat"
			for _, r := range c.Rules {
				rs.usesConntrack = rs.usesConntrack || mentionsCt(r.Exprs)
			}
		}
	}
	rs.notUnderstood = rs.findNotUnderstood()
	return rs, nil
}

// mentionsCt reports whether a decoded expression holds a ct object at any depth.
func mentionsCt(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if k == "ct" || mentionsCt(x) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if mentionsCt(x) {
				return true
			}
		}
	}
	return false
}

// NotUnderstood lists the rules of the tables the evaluator walks that hold an expression
// it does not understand (Rule.NotUnderstood says which), in the listing's order.
func (rs *Ruleset) NotUnderstood() []*Rule { return rs.notUnderstood }

func (rs *Ruleset) findNotUnderstood() []*Rule {
	var out []*Rule
	for _, t := range rs.Tables {
		for _, c := range t.Order {
			for _, r := range c.Rules {
				if r.NotUnderstood != "" {
					out = append(out, r)
				}
			}
		}
	}
	return out
}

// unwrapElem takes the value out of {"elem": {"val": ..., "comment": ...}}.
func unwrapElem(e any) any {
	if m, ok := e.(map[string]any); ok {
		if el, ok := m["elem"].(map[string]any); ok {
			return el["val"]
		}
	}
	return e
}

func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func num(v any) uint64 {
	switch v := v.(type) {
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			f, _ := v.Float64()
			return uint64(f)
		}
		return uint64(n)
	case float64:
		return uint64(v)
	}
	return 0
}

// IPTablesNFT reports whether iptables-nft manages a table (its tables carry the names of
// iptables' tables): a caller that evaluates iptables-save separately skips them.
func IPTablesNFT(t *Table) bool {
	if t.Family != "ip" {
		return false
	}
	switch t.Name {
	case "raw", "mangle", "nat", "filter", "security":
		return true
	}
	return false
}

// baseChains lists the IPv4 base chains of a hook in priority order (table order breaks
// ties, as the kernel registers them).
func (rs *Ruleset) baseChains(hook string) []*Chain {
	var out []*Chain
	for _, t := range rs.Tables {
		if t.Family != "ip" && t.Family != "inet" {
			continue
		}
		for _, c := range t.Order {
			if c.Hook == hook {
				out = append(out, c)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b *Chain) int { return a.Prio - b.Prio })
	return out
}
