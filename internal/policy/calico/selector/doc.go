// Package selector parses and evaluates Calico's label selector language, as
// projectcalico.org/v3 policies, network sets and host endpoints write it: `k == "v"`,
// `k != "v"`, `k in {"a", "b"}`, `k not in {...}`, `has(k)`, `k starts with "p"`,
// `k ends with "s"`, `k contains "c"`, `!`, `&&`, `||`, parentheses, `all()` and `global()`.
//
// An absent label makes `!=` and `not in` true and every other comparison false, as in
// Calico. `global()` evaluates true like `all()`; what it means in a namespaceSelector (only
// objects outside any namespace) is the caller's to apply, with IsGlobal.
package selector
