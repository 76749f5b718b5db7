package pathgraph

import (
	"math"
	"slices"
	"strings"
)

// The SVG's measures, in pixels. Text widths are estimated from the character count, which
// is deterministic and close enough for the fonts named.
const (
	margin     = 20
	boxW       = 220
	boxH       = 50
	colW       = 320
	rowH       = 80
	bandTop    = 28 // room for the node's name
	bandBottom = 14
	bandGap    = 18
	lineH      = 18
	legendH    = 16
	charW      = 6.8 // monospace at 11px
	titleChars = 150 // a header line's length before it wraps
	badgeR     = 9
	markR      = 11
)

// layout is where the SVG draws everything: hops in columns by how far the packet has come
// (a layered drawing, as graphviz does) and in bands, one per Kubernetes node, so that a
// node's box holds exactly its hops.
type layout struct {
	width, height int
	header        []headerLine
	bands         []band
	boxes         map[string]rect // by hop ID
	edges         []edge          // in g.Links' order
	legendY       int
	legend        []legendLine
}

type rect struct{ x, y, w, h float64 }

func (r rect) cx() float64 { return r.x + r.w/2 }
func (r rect) cy() float64 { return r.y + r.h/2 }

type headerLine struct {
	text   string
	failed bool
	bold   bool
}

type band struct {
	group string // empty for the hops on no node
	box   rect
}

type edge struct {
	x1, y1, x2, y2 float64
	// curved edges bend through (cx, cy) around the boxes a straight line would cross.
	curved bool
	cx, cy float64
	bx, by float64 // the number's badge
}

type legendLine struct {
	heading bool
	text    string
	link    *Link
}

func layOut(g *Graph) *layout {
	lo := &layout{boxes: map[string]rect{}}
	lo.header = append(lo.header, headerLine{text: g.Title, bold: true})
	summary := g.Summary
	if !strings.HasPrefix(summary, g.Verdict) {
		summary = g.Verdict + prefix(": ", summary)
	}
	for _, s := range wrap(summary, titleChars) {
		lo.header = append(lo.header, headerLine{text: s})
	}
	for _, h := range g.Failed() {
		for i, s := range wrap(failText(h), titleChars) {
			if i == 0 {
				s = failMark + " " + s
			}
			lo.header = append(lo.header, headerLine{text: s, failed: true})
		}
	}
	if g.Truncated {
		lo.header = append(lo.header, headerLine{text: "(the path was cut to keep the status small)"})
	}
	top := float64(margin + len(lo.header)*lineH + 12)

	layer := layers(g)
	maxLayer := 0
	for _, l := range layer {
		maxLayer = max(maxLayer, l)
	}
	// Bands in the order their first hop is reached; services and external hosts share one.
	var order []string
	members := map[string][]int{}
	for i, h := range g.Hops {
		if _, ok := members[h.Group]; !ok {
			order = append(order, h.Group)
		}
		members[h.Group] = append(members[h.Group], i)
	}
	y := top
	right := float64(margin)
	for _, grp := range order {
		used := map[[2]int]bool{}
		rows := 0
		minL, maxL := math.MaxInt, 0
		for _, i := range members[grp] {
			h := g.Hops[i]
			row := 0
			for used[[2]int{layer[h.ID], row}] {
				row++
			}
			used[[2]int{layer[h.ID], row}] = true
			rows = max(rows, row+1)
			minL, maxL = min(minL, layer[h.ID]), max(maxL, layer[h.ID])
			lo.boxes[h.ID] = rect{x: float64(margin+16) + float64(layer[h.ID]*colW), y: y + bandTop + float64(row*rowH), w: boxW, h: boxH}
		}
		hgt := bandTop + float64((rows-1)*rowH) + boxH + bandBottom
		b := band{group: grp, box: rect{x: float64(margin + minL*colW), y: y, w: float64((maxL-minL)*colW) + boxW + 32, h: hgt}}
		lo.bands = append(lo.bands, b)
		right = max(right, b.box.x+b.box.w)
		y += hgt + bandGap
	}

	// Links between the same two hops, either way, are drawn side by side.
	pairs := map[[2]string][]int{}
	for i, l := range g.Links {
		k := [2]string{min(l.From, l.To), max(l.From, l.To)}
		pairs[k] = append(pairs[k], i)
	}
	for i, l := range g.Links {
		a, b := lo.boxes[l.From], lo.boxes[l.To]
		k := [2]string{min(l.From, l.To), max(l.From, l.To)}
		n := len(pairs[k])
		off := (float64(slices.Index(pairs[k], i)) - float64(n-1)/2) * 14
		x1, y1, x2, y2 := a.cx(), a.cy(), b.cx(), b.cy()
		dx, dy := x2-x1, y2-y1
		d := math.Hypot(dx, dy)
		if d == 0 {
			d = 1
		}
		// The offset is perpendicular to the line between the two hops in a fixed order, so
		// that a link and its reverse take opposite sides.
		px, py := -dy/d*off, dx/d*off
		if l.From > l.To {
			px, py = -px, -py
		}
		x1, y1, x2, y2 = x1+px, y1+py, x2+px, y2+py
		lo.edges = append(lo.edges, lo.route(l, x1, y1, x2, y2, -dy/d, dx/d))
	}

	lo.legendY = int(y) + 6
	section := ""
	longest := 0
	for i := range g.Links {
		l := &g.Links[i]
		if s := sectionText(g, *l); s != section {
			section = s
			lo.legend = append(lo.legend, legendLine{heading: true, text: s})
		}
		t := legendText(*l)
		longest = max(longest, len([]rune(t)))
		lo.legend = append(lo.legend, legendLine{text: t, link: l})
	}
	for _, h := range lo.header {
		longest = max(longest, len([]rune(h.text))+2)
	}
	lo.width = int(math.Ceil(max(right+margin, float64(2*margin)+float64(longest)*charW+30)))
	lo.height = lo.legendY + len(lo.legend)*legendH + margin
	return lo
}

// route draws a link from (x1, y1) in its hop's box to (x2, y2) in the other's: straight when
// that crosses no other box, else a curve bent to the side by the least of a few fixed
// amounts that clears them all; (nx, ny) is the unit normal of the line.
func (lo *layout) route(l Link, x1, y1, x2, y2, nx, ny float64) edge {
	a, b := lo.boxes[l.From], lo.boxes[l.To]
	mx, my := (x1+x2)/2, (y1+y2)/2
	bends := []float64{0, 70, -70, 140, -140, 210, -210, 280, -280}
	bend := bends[len(bends)-1] // the last try stands even if it crosses
	for _, try := range bends[:len(bends)-1] {
		if !lo.crosses(l, x1, y1, mx+nx*try, my+ny*try, x2, y2) {
			bend = try
			break
		}
	}
	cx, cy := mx+nx*bend, my+ny*bend
	sx, sy := clip(a, x1, y1, cx, cy)
	ex, ey := clip(b, x2, y2, cx, cy)
	if bend == 0 {
		return edge{x1: sx, y1: sy, x2: ex, y2: ey, bx: (sx + ex) / 2, by: (sy + ey) / 2}
	}
	// The badge sits on the curve's middle, B(1/2) of the quadratic Bézier.
	return edge{x1: sx, y1: sy, x2: ex, y2: ey, curved: true, cx: cx, cy: cy, bx: 0.25*sx + 0.5*cx + 0.25*ex, by: 0.25*sy + 0.5*cy + 0.25*ey}
}

// crosses reports whether the curve from (x1, y1) through (cx, cy) to (x2, y2) passes
// through a box other than its own two ends'.
func (lo *layout) crosses(l Link, x1, y1, cx, cy, x2, y2 float64) bool {
	const samples = 24
	for id, r := range lo.boxes {
		if id == l.From || id == l.To {
			continue
		}
		for i := 1; i < samples; i++ {
			t := float64(i) / samples
			x := (1-t)*(1-t)*x1 + 2*(1-t)*t*cx + t*t*x2
			y := (1-t)*(1-t)*y1 + 2*(1-t)*t*cy + t*t*y2
			if x >= r.x-4 && x <= r.x+r.w+4 && y >= r.y-4 && y <= r.y+r.h+4 {
				return true
			}
		}
	}
	return false
}

// layers gives each hop its column: one past the furthest hop before it that links to it,
// counting only links from hops reached earlier, so that the way back draws no new column.
func layers(g *Graph) map[string]int {
	idx := map[string]int{}
	for i, h := range g.Hops {
		idx[h.ID] = i
	}
	layer := map[string]int{}
	for _, h := range g.Hops {
		layer[h.ID] = 0
		for _, l := range g.Links {
			if l.To == h.ID && idx[l.From] < idx[h.ID] {
				layer[h.ID] = max(layer[h.ID], layer[l.From]+1)
			}
		}
	}
	return layer
}

// clip moves (x, y), inside r, along the line toward (tx, ty) to r's border.
func clip(r rect, x, y, tx, ty float64) (float64, float64) {
	dx, dy := tx-x, ty-y
	t := 1.0
	if dx > 0 {
		t = min(t, (r.x+r.w-x)/dx)
	} else if dx < 0 {
		t = min(t, (r.x-x)/dx)
	}
	if dy > 0 {
		t = min(t, (r.y+r.h-y)/dy)
	} else if dy < 0 {
		t = min(t, (r.y-y)/dy)
	}
	t = max(t, 0)
	return x + dx*t, y + dy*t
}

func legendText(l Link) string {
	return strings.TrimRight(padRight(itoa(l.N)+".", 4)+padRight(l.From+" → "+l.To, 44)+padRight(l.Interfaces(), 34)+l.Packet, " ")
}

func padRight(s string, n int) string {
	if r := len([]rune(s)); r < n {
		return s + strings.Repeat(" ", n-r)
	}
	return s + " "
}

// wrap cuts s at spaces into lines of at most n characters (a word longer than n stays whole).
func wrap(s string, n int) []string {
	var out []string
	line := ""
	for _, w := range strings.Fields(s) {
		switch {
		case line == "":
			line = w
		case len([]rune(line))+1+len([]rune(w)) > n:
			out = append(out, line)
			line = w
		default:
			line += " " + w
		}
	}
	if line != "" {
		out = append(out, line)
	}
	return out
}
