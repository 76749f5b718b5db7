package selector

import "testing"

// FuzzParse checks the parser against its own output: whatever parses, its canonical
// spelling parses again to the same canonical spelling and selects the same labels; and
// nothing panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		``, `all()`, `global()`, `a == "b"`, `a != 'b'`, `a in {"x", "y"}`, `a not in {}`,
		`has(a) && !has(b) || c starts with "x"`, `(a ends with "z") && b contains "q"`,
		`!(!a == "b")`, `k == "it's"`, `k == '"'`, `a notin {"x" "y"}`, `((has(x)))`,
	} {
		f.Add(s, "a", "b")
	}
	f.Fuzz(func(t *testing.T, text, key, value string) {
		s, err := Parse(text)
		if err != nil {
			return
		}
		canon := s.String()
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q) gave %q, which does not parse: %v", text, canon, err)
		}
		if again.String() != canon {
			t.Fatalf("canonical form not stable: %q -> %q -> %q", text, canon, again.String())
		}
		for _, l := range []Labels{nil, {key: value}, {"a": "b", key: ""}, {"a": value, "b": key}} {
			if s.Matches(l) != again.Matches(l) {
				t.Fatalf("%q and its canonical form %q disagree on %v", text, canon, l)
			}
			if s.Matches(l) == Not(s).Matches(l) {
				t.Fatalf("%q and its negation agree on %v", text, l)
			}
		}
	})
}
