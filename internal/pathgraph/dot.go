package pathgraph

import (
	"fmt"
	"io"
	"strings"
)

// WriteDOT writes g in graphviz's DOT language: `dot -Tsvg` draws it.
func WriteDOT(w io.Writer, g *Graph) error {
	var b strings.Builder
	b.WriteString("digraph packetpath {\n")
	fmt.Fprintf(&b, "  label=%s;\n  labelloc=t;\n  rankdir=LR;\n  fontname=\"sans-serif\";\n", dotQuote(g.Title+"\n"+g.Summary))
	b.WriteString("  node [shape=box, style=\"rounded,filled\", fontname=\"sans-serif\", fontsize=11];\n")
	b.WriteString("  edge [fontname=\"monospace\", fontsize=9];\n")
	ids := hopKeys(g)
	writeHops(&b, g, func(i int, grp Group) string {
		return fmt.Sprintf("subgraph cluster_%d {\n    label=%s;\n    style=filled;\n    fillcolor=%q;\n    color=%q;", i, dotQuote("node "+grp.Name), groupFill, groupStroke)
	}, "}", func(h *Hop) string { return dotHop(h, ids[h.ID]) })
	for _, l := range g.Links {
		attrs := []string{"label=" + dotQuote(fmt.Sprintf("%d. %s", l.N, strings.Join(l.Label(), "\n"))), fmt.Sprintf("color=%q", linkColour(l)), fmt.Sprintf("fontcolor=%q", linkColour(l))}
		if l.Direction == Reply {
			attrs = append(attrs, "style=dashed")
		}
		attrs = append(attrs, "tooltip="+dotQuote(sectionText(g, l)))
		fmt.Fprintf(&b, "  %s -> %s [%s];\n", ids[l.From], ids[l.To], strings.Join(attrs, ", "))
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func dotHop(h *Hop, key string) string {
	attrs := []string{"label=" + dotQuote(strings.Join(hopLines(*h), "\n")), fmt.Sprintf("fillcolor=%q", hopFill(*h))}
	if !h.Failed {
		attrs = append(attrs, fmt.Sprintf("color=%q", hopStroke))
	}
	switch h.Type {
	case "Service":
		attrs = append(attrs, "shape=hexagon")
	case "External":
		attrs = append(attrs, "shape=cds")
	}
	if h.Failed {
		attrs = append(attrs, fmt.Sprintf("color=%q", failColour), "penwidth=3", fmt.Sprintf("fontcolor=%q", failColour), "tooltip="+dotQuote(failText(*h)))
	}
	return fmt.Sprintf("%s [%s];", key, strings.Join(attrs, ", "))
}

// dotQuote makes s one DOT string: quotes and backslashes escaped, lines split by \n.
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// hopKeys names hops h0, h1, ... in order: IDs hold slashes and dots neither DOT nor
// mermaid take bare.
func hopKeys(g *Graph) map[string]string {
	out := make(map[string]string, len(g.Hops))
	for i, h := range g.Hops {
		out[h.ID] = fmt.Sprintf("h%d", i)
	}
	return out
}

// writeHops writes the Kubernetes nodes, each opened, its hops and closed, then the hops on
// no node: the frame DOT's clusters and mermaid's subgraphs share.
func writeHops(b *strings.Builder, g *Graph, open func(int, Group) string, close string, hop func(*Hop) string) {
	for i, grp := range g.Groups {
		b.WriteString("  " + open(i, grp) + "\n")
		for _, id := range grp.Hops {
			b.WriteString("    " + hop(g.Hop(id)) + "\n")
		}
		b.WriteString("  " + close + "\n")
	}
	for i := range g.Hops {
		if g.Hops[i].Group == "" {
			b.WriteString("  " + hop(&g.Hops[i]) + "\n")
		}
	}
}
