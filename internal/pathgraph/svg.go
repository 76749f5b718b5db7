package pathgraph

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// WriteSVG draws g as a standalone SVG picture, laid out here (no graphviz needed): the
// Kubernetes nodes as grey boxes holding their hops in the order the packet reaches them,
// every link a numbered arrow (dashed for the reply, coloured by service branch), the legend
// below with each number's interfaces and packet, and the hop where the packet stops in red
// with its reason on top.
func WriteSVG(w io.Writer, g *Graph) error {
	lo := layOut(g)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`+"\n", lo.width, lo.height, lo.width, lo.height)
	fmt.Fprintf(&b, "<title>%s</title>\n", xmlText(g.Title))
	b.WriteString("<defs>\n")
	for _, c := range usedColours(g) {
		fmt.Fprintf(&b, `<marker id="arrow-%s" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker>`+"\n", c[1:], c)
	}
	b.WriteString("</defs>\n")
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", lo.width, lo.height)
	for i, h := range lo.header {
		attrs := fmt.Sprintf(`fill="%s"`, textColour)
		if h.failed {
			attrs = fmt.Sprintf(`fill="%s"`, failColour)
		}
		if h.bold {
			attrs += ` font-weight="bold" font-size="14"`
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" %s>%s</text>`+"\n", margin, margin+12+i*lineH, attrs, xmlText(h.text))
	}
	for _, bd := range lo.bands {
		if bd.group == "" {
			continue
		}
		r := bd.box
		fmt.Fprintf(&b, `<g class="node"><rect x="%s" y="%s" width="%s" height="%s" rx="8" fill="%s" stroke="%s"/>`, num(r.x), num(r.y), num(r.w), num(r.h), groupFill, groupStroke)
		fmt.Fprintf(&b, `<text x="%s" y="%s" fill="%s" font-weight="bold">node %s</text></g>`+"\n", num(r.x+10), num(r.y+18), textColour, xmlText(bd.group))
	}
	for i, l := range g.Links {
		e := lo.edges[i]
		c := linkColour(l)
		dash := ""
		if l.Direction == Reply {
			dash = ` stroke-dasharray="6 4"`
		}
		d := fmt.Sprintf("M%s,%s L%s,%s", num(e.x1), num(e.y1), num(e.x2), num(e.y2))
		if e.curved {
			d = fmt.Sprintf("M%s,%s Q%s,%s %s,%s", num(e.x1), num(e.y1), num(e.cx), num(e.cy), num(e.x2), num(e.y2))
		}
		fmt.Fprintf(&b, `<g class="link"><title>%s</title><path d="%s" fill="none" stroke="%s" stroke-width="1.6"%s marker-end="url(#arrow-%s)"/>`,
			xmlText(fmt.Sprintf("%d. %s (%s)", l.N, strings.Join(l.Label(), ", "), sectionText(g, l))), d, c, dash, c[1:])
		fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="%d" fill="#ffffff" stroke="%s"/><text x="%s" y="%s" fill="%s" font-size="10" text-anchor="middle">%d</text></g>`+"\n",
			num(e.bx), num(e.by), badgeR, c, num(e.bx), num(e.by+3.5), c, l.N)
	}
	for _, h := range g.Hops {
		r := lo.boxes[h.ID]
		stroke, width := hopStroke, "1"
		if h.Failed {
			stroke, width = failColour, "3"
		}
		rx := "6"
		if h.Type == "Service" {
			rx = "20"
		}
		fmt.Fprintf(&b, `<g class="hop"><title>%s</title><rect x="%s" y="%s" width="%s" height="%s" rx="%s" fill="%s" stroke="%s" stroke-width="%s"/>`,
			xmlText(h.ID+prefix(": ", failTextIf(h))), num(r.x), num(r.y), num(r.w), num(r.h), rx, hopFill(h), stroke, width)
		lines := hopLines(h)
		for j, s := range lines {
			fill := textColour
			if j > 0 {
				fill = failColour
			}
			y := r.cy() + 4 + (float64(j)-float64(len(lines)-1)/2)*18
			fmt.Fprintf(&b, `<text x="%s" y="%s" fill="%s">%s</text>`, num(r.x+10), num(y), fill, xmlText(cut(s, 32)))
		}
		if h.Failed {
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="%d" fill="%s"/><text x="%s" y="%s" fill="#ffffff" font-weight="bold" text-anchor="middle">%s</text>`,
				num(r.x+r.w), num(r.y), markR, failColour, num(r.x+r.w), num(r.y+4.5), failMark)
		}
		b.WriteString("</g>\n")
	}
	for i, ll := range lo.legend {
		y := lo.legendY + 12 + i*legendH
		if ll.heading {
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s" font-weight="bold">%s</text>`+"\n", margin, y, textColour, xmlText(ll.text))
			continue
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s" font-family="DejaVu Sans Mono, monospace" font-size="11" xml:space="preserve">%s</text>`+"\n", margin+10, y, linkColour(*ll.link), xmlText(ll.text))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func failTextIf(h Hop) string {
	if !h.Failed {
		return ""
	}
	return failText(h)
}

// usedColours are the links' colours, in the order first used.
func usedColours(g *Graph) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range g.Links {
		if c := linkColour(l); !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// num prints a coordinate with at most one decimal, the same on every machine.
func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

func itoa(n int) string { return strconv.Itoa(n) }

func xmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s)
}
