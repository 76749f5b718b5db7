package nftables

import (
	"fmt"
	"strings"
)

// compile turns the rules of the tables the evaluator walks (families ip and inet) into
// typed statements, once, after every set is read. What it does not understand is recorded
// on the rule (NotUnderstood) and compiled as a statement that leaves the rule's verdict
// Unknown, never as a match or a miss. Tables of other families are never walked and stay
// as the JSON has them.
func (rs *Ruleset) compile() {
	for _, t := range rs.Tables {
		if t.Family != "ip" && t.Family != "inet" {
			continue
		}
		for _, c := range t.Order {
			for _, r := range c.Rules {
				cp := compiler{rs: rs, table: t}
				r.stmts = make([]statement, 0, len(r.Exprs))
				for _, e := range r.Exprs {
					st := cp.statement(e)
					if u, ok := st.(*notUnderstood); ok && r.NotUnderstood == "" {
						r.NotUnderstood = u.note
					}
					r.stmts = append(r.stmts, st)
				}
			}
		}
	}
}

// compiler compiles the rules of one table.
type compiler struct {
	rs    *Ruleset
	table *Table
}

// errNotUnderstood says what of a rule the evaluator does not understand.
type errNotUnderstood string

func (e errNotUnderstood) Error() string { return string(e) }

func notKnown(format string, a ...any) error { return errNotUnderstood(fmt.Sprintf(format, a...)) }

// statement compiles one statement; what it does not understand becomes a notUnderstood,
// a term of the rule when it only tests the packet (a match, an xt match), a statement that
// may act otherwise.
func (cp *compiler) statement(e any) statement {
	m, ok := e.(map[string]any)
	if !ok || len(m) != 1 {
		return &notUnderstood{note: "a statement that is not an object"}
	}
	for kind, arg := range m {
		st, err := cp.statementOf(kind, arg)
		if err != nil {
			term := kind == "match"
			if kind == "xt" {
				x, _ := arg.(map[string]any)
				term = x["type"] == "match"
			}
			return &notUnderstood{note: err.Error(), term: term}
		}
		return st
	}
	panic("unreachable")
}

func (cp *compiler) statementOf(kind string, arg any) (statement, error) {
	am, _ := arg.(map[string]any)
	switch kind {
	case "counter", "log", "limit", "comment", "continue":
		// A limit lets the packet through below its rate; the evaluator follows one packet.
		return nop{}, nil
	case "match":
		return cp.match(am)
	case "accept", "return":
		return &verdictStmt{v: verdict{kind: kind}, action: kind}, nil
	case "drop":
		return dropStmt{}, nil
	case "jump", "goto":
		target, ok := am["target"].(string)
		if !ok {
			return nil, notKnown("%s without a target", kind)
		}
		return &verdictStmt{v: cp.verdictTo(kind, target), action: kind + " " + target}, nil
	case "reject":
		with := "port-unreachable"
		if e, ok := am["expr"].(string); ok {
			with = e
		} else if t, ok := am["type"].(string); ok {
			with = t
		}
		return rejectStmt{with: with}, nil
	case "vmap":
		key, set, err := cp.lookup(am)
		if err != nil {
			return nil, err
		}
		if err := set.verdicts(cp); err != nil {
			return nil, err
		}
		return &vmapStmt{key: key, set: set}, nil
	case "mangle":
		val, err := cp.exprOrLiteral(am["value"], hNum)
		if err != nil {
			return nil, err
		}
		if h := val.hints(); h != nil && (len(h) != 1 || kindOf(h[0]) != kNum) {
			return nil, notKnown("mangle value %v", am["value"])
		}
		key, _ := am["key"].(map[string]any)
		switch {
		case isMeta(key, "mark"):
			return &mangleStmt{value: val}, nil
		case isCt(key, "mark"):
			return &mangleStmt{value: val, ct: true}, nil
		}
		return nil, notKnown("mangle of %v", am["key"])
	case "dnat", "snat", "masquerade", "redirect":
		n := &natStmt{kind: kind, flags: strs(am["flags"])}
		if a, ok := am["addr"]; ok {
			v, err := cp.exprOrLiteral(a, hAddr)
			if err != nil {
				return nil, err
			}
			n.addr, n.addrText = v, a
		}
		if p, ok := am["port"]; ok {
			v, err := cp.exprOrLiteral(p, hPort)
			if err != nil {
				return nil, err
			}
			n.port, n.portText = v, p
		}
		return n, nil
	case "notrack":
		return notrackStmt{}, nil
	case "set":
		// update/add @set: it records the packet (session affinity); no effect now.
		return setUpdateStmt{}, nil
	}
	return nil, notKnown("statement %s is not understood", kind)
}

// verdictTo resolves a jump or goto's chain in the rule's table; a chain that is not there
// is left nil, and a packet that takes it ends Unknown.
func (cp *compiler) verdictTo(kind, target string) verdict {
	return verdict{kind: kind, target: target, chain: cp.table.Chains[target]}
}

// match compiles {"match": {"op", "left", "right"}} with the right side read as the left
// side's values are.
func (cp *compiler) match(m map[string]any) (statement, error) {
	op, _ := m["op"].(string)
	left, err := cp.expr(m["left"])
	if err != nil {
		return nil, err
	}
	st := &matchStmt{op: op, left: left, neg: op == "!="}
	switch right := m["right"].(type) {
	case string:
		if strings.HasPrefix(right, "@") {
			st.set, err = cp.set(right, left)
			return st, err
		}
	case map[string]any:
		if _, isSet := right["set"]; isSet {
			st.set, err = cp.set(right, left)
			return st, err
		}
		hints := left.hints()
		if len(hints) != 1 {
			return nil, notKnown("match right side %v", right)
		}
		p, ok := pattern(right, hints[0])
		if !ok {
			return nil, notKnown("match right side %v", right)
		}
		st.pat = &p
		return st, nil
	}
	hints := left.hints()
	if len(hints) != 1 {
		return nil, notKnown("comparison of a concatenation with %v", m["right"])
	}
	c, err := comparison(op, hints[0], m["right"])
	if err != nil {
		return nil, err
	}
	st.cmp = c
	return st, nil
}

// comparison compiles a comparison of one value with a literal.
func comparison(op string, h hint, right any) (*cmpRight, error) {
	rv, ok := literal(right, h)
	if !ok {
		return nil, notKnown("literal %v", right)
	}
	c := &cmpRight{op: op, v: rv}
	if h == hIface && rv.k == kStr {
		if p, wild := strings.CutSuffix(rv.s, "*"); wild {
			c.prefix, c.wild = p, true
			return c, nil
		}
	}
	switch op {
	case "==", "!=", "in":
	case "<", ">", "<=", ">=":
		if kindOf(h) != kNum || rv.k != kNum {
			return nil, notKnown("ordering of %v", right)
		}
	default:
		return nil, notKnown("operator %s", op)
	}
	return c, nil
}

// exprOrLiteral compiles a value that may be a bare literal, read as h says.
func (cp *compiler) exprOrLiteral(e any, h hint) (valueExpr, error) {
	if _, ok := e.(map[string]any); ok {
		return cp.expr(e)
	}
	sc, ok := literal(e, h)
	if !ok {
		return nil, notKnown("literal %v", e)
	}
	return &constExpr{v: sc, h: h}, nil
}

// payloadField is a header field the evaluator reads, by protocol and field.
func payloadField(proto, field string) (payloadExpr, bool) {
	switch proto {
	case "ip":
		switch field {
		case "saddr":
			return payloadExpr{field: fSrc}, true
		case "daddr":
			return payloadExpr{field: fDst}, true
		case "protocol":
			return payloadExpr{field: fProto}, true
		}
	case "tcp", "udp", "sctp", "th":
		p := payloadExpr{l4: map[string]uint8{"tcp": protoTCP, "udp": protoUDP, "sctp": protoSCTP}[proto], anyL4: proto == "th"}
		switch field {
		case "sport":
			p.field = fSport
			return p, true
		case "dport":
			p.field = fDport
			return p, true
		}
	case "icmp":
		switch field {
		case "type":
			return payloadExpr{field: fICMPType, icmp: true}, true
		case "code":
			return payloadExpr{field: fICMPCode, icmp: true}, true
		}
	}
	return payloadExpr{}, false
}

// expr compiles a value expression: a packet's field (payload, meta, ct, fib), a binary
// operation, a concatenation, numgen or a map lookup.
func (cp *compiler) expr(e any) (valueExpr, error) {
	m, ok := e.(map[string]any)
	if !ok {
		return nil, notKnown("expression %v", e)
	}
	if len(m) != 1 {
		return nil, notKnown("expression %v", e)
	}
	for k, a := range m {
		am, _ := a.(map[string]any)
		switch k {
		case "payload":
			proto, _ := am["protocol"].(string)
			field, _ := am["field"].(string)
			p, ok := payloadField(proto, field)
			if !ok {
				return nil, notKnown("payload %s %s", proto, field)
			}
			switch p.field {
			case fSrc, fDst:
				p.hs = []hint{hAddr}
			case fProto:
				p.hs = []hint{hProto}
			case fSport, fDport:
				p.hs = []hint{hPort}
			default:
				p.hs = []hint{hNum}
			}
			return &p, nil
		case "meta":
			key, _ := am["key"].(string)
			h, ok := metaHint(key)
			if !ok {
				return nil, notKnown("meta %v", am["key"])
			}
			return &metaExpr{key: key, hs: []hint{h}}, nil
		case "ct":
			key, _ := am["key"].(string)
			if dir, ok := am["dir"].(string); ok && dir == "original" {
				switch key {
				case "saddr", "ip saddr", "daddr", "ip daddr":
					return &ctOrigExpr{key: strings.TrimPrefix(key, "ip "), hs: []hint{hAddr}}, nil
				case "proto-dst":
					return &ctOrigExpr{key: key, hs: []hint{hPort}}, nil
				}
				return nil, notKnown("ct original %v", am["key"])
			}
			h, ok := ctHint(key)
			if !ok {
				return nil, notKnown("ct %v", am["key"])
			}
			return &ctExpr{key: key, hs: []hint{h}}, nil
		case "fib":
			f := &fibExpr{hs: []hint{hFibType}}
			switch am["result"] {
			case "type":
			case "oif":
				f.oif, f.hs = true, []hint{hIface}
			default:
				return nil, notKnown("fib %v", am["result"])
			}
			for _, flag := range strs(am["flags"]) {
				switch flag {
				case "saddr":
					f.src = true
				case "daddr":
					f.src = false
				case "iif":
					f.iface = ifIn
				case "oif":
					f.iface = ifOut
				case "mark":
					f.mark = true
				}
			}
			if f.oif && (!f.src || f.iface == ifOut) {
				return nil, notKnown("fib %v oif", am["flags"])
			}
			return f, nil
		case "numgen":
			mod := num(am["mod"])
			if am["mode"] != "random" && am["mode"] != "inc" || mod == 0 {
				return nil, notKnown("numgen %v", a)
			}
			return &numgenExpr{mod: mod, offset: num(am["offset"]), hs: []hint{hNum}}, nil
		case "concat":
			parts, _ := a.([]any)
			c := &concatExpr{}
			for _, part := range parts {
				x, err := cp.expr(part)
				if err != nil {
					return nil, err
				}
				if x.hints() == nil {
					// A part whose kind only a lookup tells: not a key the evaluator reads.
					return nil, notKnown("concatenation of %v", part)
				}
				c.parts = append(c.parts, x)
				c.hs = append(c.hs, x.hints()...)
			}
			return c, nil
		case "&", "|", "^", ">>", "<<":
			ops, _ := a.([]any)
			if len(ops) != 2 {
				return nil, notKnown("binary operation %v", m)
			}
			l, err := cp.expr(ops[0])
			if err != nil {
				return nil, err
			}
			h := l.hints()
			if len(h) != 1 || kindOf(h[0]) != kNum {
				return nil, notKnown("binary operation %v", m)
			}
			rv, ok := literal(ops[1], h[0])
			if !ok || rv.k != kNum {
				return nil, notKnown("binary operation %v", m)
			}
			return &binopExpr{op: k, left: l, operand: rv.n}, nil
		case "map":
			key, set, err := cp.lookup(am)
			if err != nil {
				return nil, err
			}
			return &mapExpr{key: key, set: set}, nil
		}
		return nil, notKnown("expression %s is not understood", k)
	}
	panic("unreachable")
}

// lookup compiles a map or verdict map's {"key", "data"}: the key and the map it looks up.
func (cp *compiler) lookup(m map[string]any) (valueExpr, *setRef, error) {
	key, err := cp.expr(m["key"])
	if err != nil {
		return nil, nil, err
	}
	set, err := cp.set(m["data"], key)
	return key, set, err
}

// set compiles a reference to a named set or map ("@name", in the rule's table) or an
// anonymous one ({"set": [...]}), its elements read as the key's values are.
func (cp *compiler) set(ref any, key valueExpr) (*setRef, error) {
	hints := key.hints()
	if hints == nil {
		return nil, notKnown("a lookup keyed by %v", ref)
	}
	switch ref := ref.(type) {
	case string:
		name := strings.TrimPrefix(ref, "@")
		set := cp.table.Sets[name]
		if set == nil {
			return nil, notKnown("set %s is not in the ruleset", ref)
		}
		c, ok := set.cacheFor(hints)
		if !ok {
			return nil, notKnown("set %v: elements do not fit the key", ref)
		}
		return &setRef{elems: set.Elems, cache: c}, nil
	case map[string]any:
		list, _ := ref["set"].([]any)
		var elems []Elem
		for _, e := range list {
			if pair, ok := e.([]any); ok && len(pair) == 2 {
				elems = append(elems, Elem{Key: unwrapElem(pair[0]), Data: pair[1]})
			} else {
				elems = append(elems, Elem{Key: unwrapElem(e)})
			}
		}
		c, ok := buildCache(elems, hints)
		if !ok {
			return nil, notKnown("set %v: elements do not fit the key", ref)
		}
		return &setRef{elems: elems, cache: c}, nil
	}
	return nil, notKnown("set reference %v", ref)
}

// verdicts reads a verdict map's data, once: an element whose data is not a verdict makes
// the map not understood.
func (r *setRef) verdicts(cp *compiler) error {
	r.vs = make([]verdict, len(r.elems))
	for i, e := range r.elems {
		v, ok := parseVerdict(e.Data)
		if !ok {
			return notKnown("verdict map data %v", e.Data)
		}
		if v.kind == "jump" || v.kind == "goto" {
			v = cp.verdictTo(v.kind, v.target)
		}
		r.vs[i] = v
	}
	return nil
}

func parseVerdict(v any) (verdict, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return verdict{}, false
	}
	for k, a := range m {
		switch k {
		case "accept", "drop", "return", "continue":
			return verdict{kind: k}, true
		case "jump", "goto":
			am, _ := a.(map[string]any)
			t, _ := am["target"].(string)
			return verdict{kind: k, target: t}, t != ""
		}
	}
	return verdict{}, false
}

func isMeta(e map[string]any, key string) bool {
	m, ok := e["meta"].(map[string]any)
	return ok && m["key"] == key
}

func isCt(e map[string]any, key string) bool {
	m, ok := e["ct"].(map[string]any)
	return ok && m["key"] == key
}
