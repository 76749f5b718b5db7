package selector

import (
	"strings"
	"testing"
)

func TestMatches(t *testing.T) {
	labels := Labels{"app": "web", "tier": "frontend", "env": "prod-eu", "projectcalico.org/namespace": "shop"}
	cases := map[string]struct {
		sel  string
		want bool
	}{
		"empty selects all":                {"", true},
		"blanks select all":                {" \t ", true},
		"all()":                            {"all()", true},
		"global() alone is true":           {"global()", true},
		"equal":                            {`app == "web"`, true},
		"equal, single quotes":             {`app == 'web'`, true},
		"equal, other value":               {`app == "db"`, false},
		"equal, absent label":              {`role == "x"`, false},
		"not equal":                        {`app != "db"`, true},
		"not equal, absent label is true":  {`role != "x"`, true},
		"not equal, same value":            {`app != "web"`, false},
		"in":                               {`app in {"db", "web"}`, true},
		"in, no commas":                    {`app in {"db" "web"}`, true},
		"in, absent label":                 {`role in {"web"}`, false},
		"in, empty set":                    {`app in {}`, false},
		"not in":                           {`app not in {"db"}`, true},
		"not in, absent label is true":     {`role not in {"db"}`, true},
		"not in, member":                   {`app not in {"db", "web"}`, false},
		"notin as one word":                {`app notin {"db"}`, true},
		"has":                              {`has(app)`, true},
		"has, blanks inside":               {`has( tier )`, true},
		"has, absent":                      {`has(role)`, false},
		"not has":                          {`!has(role)`, true},
		"double negation":                  {`!!has(app)`, true},
		"starts with":                      {`env starts with "prod"`, true},
		"starts with, no":                  {`env starts with "dev"`, false},
		"ends with":                        {`env ends with "-eu"`, true},
		"contains":                         {`env contains "d-e"`, true},
		"contains, absent label":           {`role contains ""`, false},
		"and":                              {`app == "web" && tier == "frontend"`, true},
		"and, one false":                   {`app == "web" && tier == "backend"`, false},
		"or":                               {`app == "db" || tier == "frontend"`, true},
		"and binds tighter than or":        {`app == "db" && tier == "x" || has(env)`, true},
		"and binds tighter than or, right": {`has(env) || app == "db" && tier == "x"`, true},
		"parentheses change the grouping":  {`(has(env) || app == "db") && tier == "x"`, false},
		"not applies to a group":           {`!(app == "db" || tier == "backend")`, true},
		"not applies to one term only":     {`!app == "web" || has(tier)`, true},
		"label with dots, slashes, dashes": {`projectcalico.org/namespace == "shop"`, true},
		"all() in a conjunction":           {`all() && app == "web"`, true},
		"nested parentheses":               {`((((app == "web"))))`, true},
		"operator word needs a boundary":   {`app in {"web"} && has(tier)`, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := Parse(tc.sel)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.sel, err)
			}
			if got := s.Matches(labels); got != tc.want {
				t.Errorf("%q (parsed as %s) on %v = %v, want %v", tc.sel, s, labels, got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for name, sel := range map[string]string{
		"single =":               `app = "web"`,
		"single &":               `has(a) & has(b)`,
		"single |":               `has(a) | has(b)`,
		"unterminated string":    `app == "web`,
		"unquoted value":         `app == web`,
		"missing operator":       `app "web"`,
		"unknown operator word":  `app like "w"`,
		"dangling and":           `has(a) &&`,
		"unclosed parenthesis":   `(has(a)`,
		"extra parenthesis":      `has(a))`,
		"has without label":      `has()`,
		"has unclosed":           `has(a`,
		"set without brace":      `a in "x"`,
		"set unclosed":           `a in {"x"`,
		"set with a label":       `a in {x}`,
		"two terms without op":   `has(a) has(b)`,
		"all with argument":      `all(x)`,
		"bare not":               `!`,
		"label too long":         strings.Repeat("a", maxLabel+1) + ` == "x"`,
		"too deep":               strings.Repeat("(", maxDepth+2) + "has(a)" + strings.Repeat(")", maxDepth+2),
		"starts without with":    `a starts "x"`,
		"operator glued to word": `a inx {"x"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if s, err := Parse(sel); err == nil {
				t.Errorf("Parse(%q) = %s, want an error", sel, s)
			}
		})
	}
}

func TestPrefixedAndCanonical(t *testing.T) {
	s := MustParse(`a == "1" && (has(b) || c not in {"y", 'x'}) && !d starts with "p"`)
	if got, want := s.String(), `(a == "1" && (has(b) || c not in {"x", "y"})) && !d starts with "p"`; got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
	p := s.Prefixed("pcns.")
	if !p.Matches(Labels{"pcns.a": "1", "pcns.b": ""}) || p.Matches(Labels{"a": "1", "b": ""}) {
		t.Errorf("Prefixed(pcns.) = %s does not match the prefixed labels only", p)
	}
	if !MustParse("all()").Prefixed("x.").IsAll() || !MustParse("global()").Prefixed("x.").IsGlobal() {
		t.Error("all() and global() must survive prefixing")
	}
	and := And(nil, All(), Equal("a", "1"), Not(Has("b")))
	if !and.Matches(Labels{"a": "1"}) || and.Matches(Labels{"a": "1", "b": "2"}) {
		t.Errorf("And = %s", and)
	}
	if !And().IsAll() {
		t.Error("And() of nothing must select all")
	}
	if in := In("k", "b", "a", "b"); in.String() != `k in {"a", "b"}` {
		t.Errorf("In = %s", in)
	}
}
