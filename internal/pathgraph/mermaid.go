package pathgraph

import (
	"fmt"
	"io"
	"strings"
)

// WriteMermaid writes g as a mermaid flowchart, which GitHub and most wikis draw from a
// ```mermaid block. Every label is quoted and escaped, so that addresses, arrows and
// quotes in names reach the picture as written.
func WriteMermaid(w io.Writer, g *Graph) error {
	var b strings.Builder
	fmt.Fprintf(&b, "---\ntitle: %s\n---\n", mermaidTitle(g.Title))
	b.WriteString("flowchart LR\n")
	ids := hopKeys(g)
	writeHops(&b, g, func(i int, grp Group) string {
		return fmt.Sprintf("subgraph g%d[\"%s\"]", i, mermaidText("node "+grp.Name))
	}, "end", func(h *Hop) string { return mermaidHop(h, ids[h.ID]) })
	for _, l := range g.Links {
		arrow := "-->"
		if l.Direction == Reply {
			arrow = "-.->"
		}
		fmt.Fprintf(&b, "  %s %s|\"%s\"| %s\n", ids[l.From], arrow, mermaidText(fmt.Sprintf("%d. %s", l.N, strings.Join(l.Label(), "\n"))), ids[l.To])
	}
	classes := map[string][]string{}
	var names []string
	for _, h := range g.Hops {
		c := "hop" + h.Type
		if h.Failed {
			c = "hopFailed"
		}
		if _, ok := classes[c]; !ok {
			names = append(names, c)
		}
		classes[c] = append(classes[c], ids[h.ID])
	}
	for _, c := range names {
		style := fmt.Sprintf("fill:%s,stroke:%s,color:%s", hopFill(Hop{Type: strings.TrimPrefix(c, "hop")}), hopStroke, textColour)
		if c == "hopFailed" {
			style = fmt.Sprintf("fill:%s,stroke:%s,stroke-width:3px,color:%s", failFill, failColour, failColour)
		}
		fmt.Fprintf(&b, "  classDef %s %s\n  class %s %s\n", c, style, strings.Join(classes[c], ","), c)
	}
	for i := range g.Groups {
		fmt.Fprintf(&b, "  style g%d fill:%s,stroke:%s,color:%s\n", i, groupFill, groupStroke, textColour)
	}
	for i, l := range g.Links {
		fmt.Fprintf(&b, "  linkStyle %d stroke:%s,color:%s\n", i, linkColour(l), linkColour(l))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mermaidHop(h *Hop, key string) string {
	open, close := "[\"", "\"]"
	switch h.Type {
	case "Service":
		open, close = "{{\"", "\"}}"
	case "External":
		open, close = "[/\"", "\"/]"
	}
	return key + open + mermaidText(strings.Join(hopLines(*h), "\n")) + close
}

// mermaidText escapes s for a quoted mermaid label: mermaid reads #name; as an entity and
// labels as HTML, so those characters go as entities; lines break with <br/>.
func mermaidText(s string) string {
	r := strings.NewReplacer("#", "#35;", `"`, "#quot;", "&", "#amp;", "<", "#lt;", ">", "#gt;", "|", "#124;", "`", "#96;", "\n", "<br/>")
	return r.Replace(s)
}

// mermaidTitle is a YAML plain scalar in the front matter: quoted, with quotes escaped.
func mermaidTitle(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", " ").Replace(s) + `"`
}
