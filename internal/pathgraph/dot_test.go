package pathgraph

import (
	"bytes"
	"context"
	"html"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestDOTInGraphviz has graphviz's dot lay out every golden DOT picture: it must take each
// without a warning and draw every hop's name and every link's packet.
func TestDOTInGraphviz(t *testing.T) {
	dot, err := exec.LookPath("dot")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("graphviz is not installed; hack/install-deps.sh installs it in CI")
		}
		t.Skip("graphviz is not installed (apt-get install graphviz, or hack/install-deps.sh): DOT is not checked")
	}
	for name := range cases {
		g := graphOf(t, name)
		var in bytes.Buffer
		if err := WriteDOT(&in, g); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, dot, "-Tsvg")
		cmd.Stdin = &in
		var out, errs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errs
		err := cmd.Run()
		cancel()
		if err != nil || errs.Len() > 0 {
			t.Fatalf("%s: dot: %v\n%s", name, err, errs.String())
		}
		svg := html.UnescapeString(out.String()) // graphviz writes "-" as &#45;
		for _, h := range g.Hops {
			if w := hopLines(h)[0]; !strings.Contains(svg, w) {
				t.Errorf("%s: graphviz's drawing lacks hop %q", name, w)
			}
		}
		for _, l := range g.Links {
			if !strings.Contains(svg, l.Packet) {
				t.Errorf("%s: graphviz's drawing lacks link %d's packet %q", name, l.N, l.Packet)
			}
		}
	}
}
