package selector

import (
	"errors"
	"fmt"
	"strings"
)

type kind int

const (
	tokEOF kind = iota
	tokLabel
	tokString
	tokLBrace
	tokRBrace
	tokComma
	tokEq
	tokNe
	tokIn
	tokNotIn
	tokNot
	tokContains
	tokStartsWith
	tokEndsWith
	tokHas
	tokAll
	tokGlobal
	tokLParen
	tokRParen
	tokAnd
	tokOr
)

var kindText = map[kind]string{
	tokEOF: "the end", tokLBrace: "{", tokRBrace: "}", tokComma: ",", tokEq: "==", tokNe: "!=",
	tokIn: "in", tokNotIn: "not in", tokNot: "!", tokContains: "contains", tokStartsWith: "starts with",
	tokEndsWith: "ends with", tokAll: "all()", tokGlobal: "global()", tokLParen: "(", tokRParen: ")",
	tokAnd: "&&", tokOr: "||",
}

func (k kind) String() string { return kindText[k] }

type token struct {
	kind  kind
	value string
}

func (t token) String() string {
	switch t.kind {
	case tokLabel:
		return "label " + t.value
	case tokString:
		return "string " + quote(t.value)
	case tokHas:
		return "has(" + t.value + ")"
	}
	return t.kind.String()
}

// maxLabel is Calico's bound on a label name in a selector.
const maxLabel = 512

// tokenize splits a selector as Calico's tokenizer does: operators after a label are words
// (`in`, `not in`, `contains`, `starts with`, `ends with`), a string is quoted with ' or "
// and has no escapes, and blanks are spaces and tabs. The last token is tokEOF.
func tokenize(in string) ([]token, error) {
	var out []token
	for {
		in = strings.TrimLeft(in, " \t")
		if in == "" {
			return append(out, token{kind: tokEOF}), nil
		}
		afterLabel := len(out) > 0 && out[len(out)-1].kind == tokLabel
		var t token
		var err error
		switch c := in[0]; {
		case c == '(':
			t, in = token{kind: tokLParen}, in[1:]
		case c == ')':
			t, in = token{kind: tokRParen}, in[1:]
		case c == '{':
			t, in = token{kind: tokLBrace}, in[1:]
		case c == '}':
			t, in = token{kind: tokRBrace}, in[1:]
		case c == ',':
			t, in = token{kind: tokComma}, in[1:]
		case c == '"' || c == '\'':
			end := strings.IndexByte(in[1:], c)
			if end < 0 {
				return nil, errors.New("unterminated string")
			}
			t, in = token{kind: tokString, value: in[1 : 1+end]}, in[2+end:]
		case strings.HasPrefix(in, "=="):
			t, in = token{kind: tokEq}, in[2:]
		case c == '=':
			return nil, errors.New("expected ==")
		case strings.HasPrefix(in, "!="):
			t, in = token{kind: tokNe}, in[2:]
		case c == '!':
			t, in = token{kind: tokNot}, in[1:]
		case strings.HasPrefix(in, "&&"):
			t, in = token{kind: tokAnd}, in[2:]
		case strings.HasPrefix(in, "||"):
			t, in = token{kind: tokOr}, in[2:]
		case c == '&' || c == '|':
			return nil, fmt.Errorf("expected %c%c", c, c)
		case afterLabel:
			t, in, err = operatorWord(in, out[len(out)-1].value)
		default:
			t, in, err = function(in)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
}

// operatorWord reads the operator that must follow a label.
func operatorWord(in, label string) (token, string, error) {
	for _, w := range []struct {
		words []string
		kind  kind
	}{
		{[]string{"contains"}, tokContains},
		{[]string{"starts", "with"}, tokStartsWith},
		{[]string{"ends", "with"}, tokEndsWith},
		{[]string{"not", "in"}, tokNotIn},
		{[]string{"in"}, tokIn},
	} {
		if rest, ok := cutWords(in, w.words); ok {
			return token{kind: w.kind}, rest, nil
		}
	}
	return token{}, in, fmt.Errorf("expected an operator after label %s", label)
}

// cutWords cuts the words, blanks allowed between them (Calico also takes "notin"), and
// requires a word boundary after the last.
func cutWords(in string, words []string) (string, bool) {
	rest := in
	for i, w := range words {
		var ok bool
		if rest, ok = strings.CutPrefix(rest, w); !ok {
			return in, false
		}
		if i < len(words)-1 {
			rest = strings.TrimLeft(rest, " \t")
		}
	}
	if rest != "" && identChar(rest[0]) {
		return in, false
	}
	return rest, true
}

// function reads has(label), all(), global() or a label.
func function(in string) (token, string, error) {
	if rest, ok := strings.CutPrefix(in, "has("); ok {
		id, rest, err := ident(strings.TrimLeft(rest, " \t"))
		if err != nil {
			return token{}, in, fmt.Errorf("in has(): %w", err)
		}
		rest, ok = strings.CutPrefix(strings.TrimLeft(rest, " \t"), ")")
		if !ok {
			return token{}, in, errors.New("no closing ) after has(")
		}
		return token{kind: tokHas, value: id}, rest, nil
	}
	for _, f := range []struct {
		name string
		kind kind
	}{{"all(", tokAll}, {"global(", tokGlobal}} {
		if rest, ok := strings.CutPrefix(in, f.name); ok {
			rest, ok = strings.CutPrefix(strings.TrimLeft(rest, " \t"), ")")
			if !ok {
				return token{}, in, fmt.Errorf("no closing ) after %s", f.name)
			}
			return token{kind: f.kind}, rest, nil
		}
	}
	id, rest, err := ident(in)
	if err != nil {
		return token{}, in, err
	}
	return token{kind: tokLabel, value: id}, rest, nil
}

func ident(in string) (string, string, error) {
	i := 0
	for i < len(in) && identChar(in[i]) {
		i++
	}
	switch {
	case i == 0:
		return "", in, fmt.Errorf("expected a label at %q", truncate(in))
	case i > maxLabel:
		return "", in, fmt.Errorf("label longer than %d characters", maxLabel)
	}
	return in[:i], in[i:], nil
}

func identChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '.' || c == '/' || c == '-'
}

func truncate(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}
