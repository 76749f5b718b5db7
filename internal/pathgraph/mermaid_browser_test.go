package pathgraph

import (
	"bytes"
	"encoding/json"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mermaidJS is the mermaid GitHub draws with, as hack/install-deps.sh installs it from
// hack/mermaid's lock file.
const mermaidJS = "../../hack/mermaid/node_modules/mermaid/dist/mermaid.min.js"

// TestMermaidInBrowser has mermaid itself, in headless chromium, draw every golden mermaid
// picture and one whose names hold the characters mermaid reads as syntax, and checks that
// each draws without an error and shows every hop's name and every link's packet as written.
func TestMermaidInBrowser(t *testing.T) {
	browser := chromium(t)
	js, err := filepath.Abs(mermaidJS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(js); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mermaid is not installed (%v); hack/install-deps.sh installs it in CI", err)
		}
		t.Skipf("mermaid is not installed (npm ci --prefix hack/mermaid, or hack/install-deps.sh): %v", err)
	}
	graphs := map[string]*Graph{"escapes": escapesGraph()}
	for name := range cases {
		graphs[name] = graphOf(t, name)
	}
	sources := map[string]string{}
	for name, g := range graphs {
		var b bytes.Buffer
		if err := WriteMermaid(&b, g); err != nil {
			t.Fatal(err)
		}
		sources[name] = b.String()
	}
	src, err := json.Marshal(sources)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "mermaid.html")
	// Each picture is drawn as GitHub does (securityLevel strict) and its text read back.
	doc := `<html><body><pre id="out"></pre><script src="file://` + js + `"></script><script>
const sources = ` + string(src) + `;
mermaid.initialize({startOnLoad: false, securityLevel: "strict"});
(async () => {
  const out = {};
  let i = 0;
  for (const [name, text] of Object.entries(sources)) {
    try {
      const r = await mermaid.render("m" + i++, text);
      const div = document.createElement("div");
      div.innerHTML = r.svg;
      document.body.appendChild(div);
      out[name] = {text: div.textContent};
    } catch (e) {
      out[name] = {error: String(e && e.message || e)};
    }
  }
  document.getElementById("out").textContent = "BEGIN" + JSON.stringify(out) + "END";
})();
</script></body></html>`
	if err := os.WriteFile(page, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	dump := runChromium(t, browser, dir, "--virtual-time-budget=20000", "--dump-dom", "file://"+page)
	_, rest, ok := strings.Cut(dump, "BEGIN")
	body, _, ok2 := strings.Cut(rest, "END")
	if !ok || !ok2 {
		t.Fatalf("mermaid did not finish drawing:\n%s", dump)
	}
	var got map[string]struct{ Text, Error string }
	if err := json.Unmarshal([]byte(html.UnescapeString(body)), &got); err != nil {
		t.Fatalf("read mermaid's results: %v\n%s", err, body)
	}
	for name, g := range graphs {
		r := got[name]
		if r.Error != "" || r.Text == "" {
			t.Errorf("%s: mermaid does not draw it: %q\n%s", name, r.Error, sources[name])
			continue
		}
		for _, h := range g.Hops {
			if w := hopLines(h)[0]; !strings.Contains(r.Text, w) {
				t.Errorf("%s: the drawing lacks hop %q: %s", name, w, r.Text)
			}
		}
		for _, l := range g.Links {
			if !strings.Contains(r.Text, l.Packet) {
				t.Errorf("%s: the drawing lacks link %d's packet %q: %s", name, l.N, l.Packet, r.Text)
			}
		}
	}
}
