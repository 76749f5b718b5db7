package plugins

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/netdiag/netdiag/internal/model"
)

var updateSuspicions = flag.Bool("update-suspicions", false, "rewrite docs/suspicions.md and the released codes from the reason declarations")

const (
	suspicionsDoc = "../../docs/suspicions.md"
	// releasedReasons lists every code ever released, one a line: codes are API, so none may
	// stop being declared.
	releasedReasons = "testdata/released-reasons.txt"
)

// declaredReason is one code's declaration: the engine's (plugin "") or a plugin's.
type declaredReason struct {
	model.ReasonInfo
	plugin string
}

// declaredReasons returns every declaration, the engine's first, each plugin's in the
// registry's order, and fails naming any code declared twice.
func declaredReasons(t *testing.T) []declaredReason {
	t.Helper()
	var out []declaredReason
	for _, r := range model.Reasons() {
		out = append(out, declaredReason{ReasonInfo: r})
	}
	for _, d := range Descriptors() {
		for _, r := range d.Reasons {
			out = append(out, declaredReason{ReasonInfo: r, plugin: d.Name})
		}
	}
	seen := map[model.Reason]string{}
	for _, r := range out {
		if by, dup := seen[r.Reason]; dup {
			t.Errorf("code %s is declared twice (%s and %s): declare it once, with every level it is reported at", r.Reason, declarer(by), declarer(r.plugin))
		}
		seen[r.Reason] = r.plugin
	}
	return out
}

func declarer(plugin string) string {
	if plugin == "" {
		return "model.Reasons"
	}
	return "plugin " + plugin
}

const docIntro = `# Suspicions

Every suspicion has a level (Info, Warning, Critical, Fatal), a stable reason code, where it was
found and a sentence to act on. Codes are part of the API: documented here, never renamed.

This page is written from the declarations in ` + "`internal/model/reasons.go`" + ` and each plugin's
` + "`Descriptor.Reasons`" + ` by ` + "`go test ./internal/plugins -run TestSuspicionsDoc -update-suspicions`" + `;
the test fails, naming the code, when the two disagree. A code reported at several levels has a
row for each.

What found it:

- **hop**: the engine's hop (` + "`internal/plugin`" + `, BasePluginNode and the plugins) and the walk
  (` + "`internal/network`" + `). "Where" is the node and, inside a pod, the pod; the interface and the
  rule (route, iptables rule with its counters, policy) are given when one decided.
- **netstack**: ` + "`netstack.NetstackAssertion`" + ` on a node's or pod's network namespace. The rule
  is the route (as ` + "`ip route`" + ` prints it) or the policy rule (as ` + "`ip rule`" + ` prints it) that
  decided.
- **service**: the service processor (` + "`internal/service`" + `): kube-proxy in iptables, ipvs or
  nftables mode.
- **policy**: ` + "`internal/policy`" + ` (see [network-policy.md](network-policy.md)) where a pod sends
  (egress) or receives (ingress) the packet. "Where" is the isolated pod and its node; the rule
  lists the policies (` + "`namespace/name`" + `) that select the pod for that direction.
- **diagnose**: ` + "`internal/diagnose`" + ` after the walk. With ` + "`spec.probe: true`" + ` the collector on
  the source's node sends one real connection attempt from inside the source (see
  [collector.md](collector.md#probe)); the controller shows its outcome in ` + "`status.probe`" + `, and
  the engine weighs it against the simulated verdict, never changing it. "Where" is the
  source's node and, for a pod source, the pod.
`

const tableHead = "| code | level | found by | meaning | what to do |\n| --- | --- | --- | --- | --- |\n"

// row is a code's line of the table at one level.
func row(r declaredReason, l model.ReasonLevel) string {
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	foundBy := r.FoundBy
	if r.plugin != "" && foundBy == "" {
		foundBy = r.plugin
	}
	return fmt.Sprintf("| `%s` | %s | %s | %s | %s |\n", r.Reason, l.Level, cell(foundBy), cell(l.Meaning), cell(l.Remedy))
}

// suspicionsPage writes docs/suspicions.md from the declarations: the engine's codes by
// topic, then each plugin's.
func suspicionsPage(decls []declaredReason) string {
	var b strings.Builder
	b.WriteString(docIntro)
	var topics []string
	byTopic := map[string][]declaredReason{}
	var plugins []declaredReason
	for _, r := range decls {
		if r.plugin != "" {
			plugins = append(plugins, r)
			continue
		}
		if !slices.Contains(topics, r.Topic) {
			topics = append(topics, r.Topic)
		}
		byTopic[r.Topic] = append(byTopic[r.Topic], r)
	}
	table := func(title, intro string, rs []declaredReason) {
		fmt.Fprintf(&b, "\n## %s\n\n%s%s", title, intro, tableHead)
		for _, r := range rs {
			for _, l := range r.Levels() {
				b.WriteString(row(r, l))
			}
		}
	}
	for _, topic := range topics {
		table(topic, "", byTopic[topic])
	}
	if len(plugins) > 0 {
		table("Codes of the plugins", "Codes a plugin declares in its descriptor and only it reports.\n\n", plugins)
	}
	return b.String()
}

// rowsByCode returns a page's table rows by the code they document.
func rowsByCode(page string) map[model.Reason][]string {
	out := map[model.Reason][]string{}
	for _, l := range strings.Split(page, "\n") {
		rest, ok := strings.CutPrefix(l, "| `")
		if !ok {
			continue
		}
		code, _, _ := strings.Cut(rest, "`")
		out[model.Reason(code)] = append(out[model.Reason(code)], l)
	}
	return out
}

// TestSuspicionsDoc keeps docs/suspicions.md the declarations' own page, and names each code
// where they part: documented and not declared, declared and not documented, or documented
// otherwise than declared.
func TestSuspicionsDoc(t *testing.T) {
	decls := declaredReasons(t)
	want := suspicionsPage(decls)
	if *updateSuspicions {
		if err := os.WriteFile(suspicionsDoc, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(suspicionsDoc)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	wantRows, gotRows := rowsByCode(want), rowsByCode(got)
	var codes []model.Reason
	for c := range wantRows {
		codes = append(codes, c)
	}
	for c := range gotRows {
		if _, ok := wantRows[c]; !ok {
			codes = append(codes, c)
		}
	}
	slices.Sort(codes)
	for _, c := range codes {
		w, g := wantRows[c], gotRows[c]
		switch {
		case g == nil:
			t.Errorf("code %s is declared but docs/suspicions.md does not document it", c)
		case w == nil:
			t.Errorf("code %s is in docs/suspicions.md but declared nowhere (model.Reasons, or a plugin's Descriptor.Reasons)", c)
		case !slices.Equal(w, g):
			t.Errorf("code %s: docs/suspicions.md documents it as\n%s\nand its declaration as\n%s", c, strings.Join(g, "\n"), strings.Join(w, "\n"))
		}
	}
	if !t.Failed() && got != want {
		t.Errorf("docs/suspicions.md is not the page the declarations write (outside the codes' rows)")
	}
	if t.Failed() {
		t.Log("to write the page from the declarations: go test ./internal/plugins -run TestSuspicionsDoc -update-suspicions")
	}
}

// reasonConstants returns the reason codes declared as constants (of type model.Reason) in
// the non-test Go files under internal/, each with where it is.
func reasonConstants(t *testing.T) map[model.Reason]string {
	t.Helper()
	out := map[model.Reason]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("parse %s: %w", path, err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if !isReasonType(vs.Type, f.Name.Name) {
					continue
				}
				for i, v := range vs.Values {
					lit, ok := v.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					code, err := strconv.Unquote(lit.Value)
					if err != nil {
						return fmt.Errorf("%s: %w", fset.Position(lit.Pos()), err)
					}
					out[model.Reason(code)] = fmt.Sprintf("%s in %s", vs.Names[i].Name, filepath.ToSlash(strings.TrimPrefix(path, "../")))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// isReasonType reports whether a constant's type is model.Reason: Reason inside package
// model, model.Reason elsewhere.
func isReasonType(e ast.Expr, pkg string) bool {
	switch e := e.(type) {
	case *ast.Ident:
		return pkg == "model" && e.Name == "Reason"
	case *ast.SelectorExpr:
		x, ok := e.X.(*ast.Ident)
		return ok && x.Name == "model" && e.Sel.Name == "Reason"
	}
	return false
}

// TestReasonCodesDeclared checks that every reason code in the code is declared (and so
// documented), and that no released code stops being declared: codes are API.
func TestReasonCodesDeclared(t *testing.T) {
	declared := map[model.Reason]bool{}
	var order []string
	for _, r := range declaredReasons(t) {
		declared[r.Reason] = true
		order = append(order, string(r.Reason))
	}
	constants := reasonConstants(t)
	if len(constants) < len(model.Reasons()) {
		t.Fatalf("found %d reason constants under internal/, fewer than model.Reasons declares (%d)", len(constants), len(model.Reasons()))
	}
	for code, where := range constants {
		if !declared[code] {
			t.Errorf("code %s (%s) is not declared in model.Reasons or a plugin's Descriptor.Reasons, so docs/suspicions.md does not document it", code, where)
		}
	}
	b, err := os.ReadFile(releasedReasons)
	if err != nil {
		t.Fatal(err)
	}
	released := strings.Fields(string(b))
	for _, code := range released {
		if !declared[model.Reason(code)] {
			t.Errorf("code %s was released and is no longer declared: codes are never renamed or removed", code)
		}
	}
	var added []string
	for _, code := range order {
		if !slices.Contains(released, code) {
			added = append(added, code)
		}
	}
	if len(added) == 0 {
		return
	}
	if *updateSuspicions {
		text := strings.Join(append(released, added...), "\n") + "\n"
		if err := os.WriteFile(releasedReasons, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	for _, code := range added {
		t.Errorf("code %s is new: add it to %s (go test ./internal/plugins -run 'TestSuspicionsDoc|TestReasonCodesDeclared' -update-suspicions)", code, releasedReasons)
	}
}

// TestSuspicionsPagePluginCodes checks that a plugin's own codes get their table, with the
// plugin as what found them, and a row per level.
func TestSuspicionsPagePluginCodes(t *testing.T) {
	page := suspicionsPage([]declaredReason{
		{ReasonInfo: model.Reasons()[0]},
		{plugin: "example", ReasonInfo: model.ReasonInfo{Reason: "ExampleTunnelDown", Level: model.Critical, Meaning: "The tunnel is down.", Remedy: "Bring it up.",
			Others: []model.ReasonLevel{{Level: model.Info, Meaning: "The tunnel | flaps.", Remedy: "Watch it."}}}},
	})
	for _, want := range []string{
		"\n## Codes of the plugins\n",
		"| `ExampleTunnelDown` | Critical | example | The tunnel is down. | Bring it up. |\n",
		"| `ExampleTunnelDown` | Info | example | The tunnel \\| flaps. | Watch it. |\n",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("no %q in the page:\n%s", want, page)
		}
	}
	if rows := rowsByCode(page)["ExampleTunnelDown"]; len(rows) != 2 {
		t.Errorf("rows of ExampleTunnelDown: %q, want 2", rows)
	}
}
