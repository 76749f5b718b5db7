package pathgraph

import (
	"fmt"
	"strings"
)

// The colours every writer uses. failColour marks only where the packet stops, so that a
// picture of a healthy path holds none of it.
const (
	failColour     = "#d62728"
	failFill       = "#fde0dc"
	commonColour   = "#444444"
	groupFill      = "#f4f4f5"
	groupStroke    = "#a1a1aa"
	textColour     = "#111111"
	serviceFill    = "#fef3c7"
	externalFill   = "#e0e7ff"
	podFill        = "#dbeafe"
	nodeFill       = "#e4e4e7"
	hopStroke      = "#52525b"
	failMark       = "✗"
	maxReasonRunes = 300
)

// branchColours tell branches apart; none is near failColour.
var branchColours = [...]string{"#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#e377c2", "#bcbd22", "#ff7f0e"}

func linkColour(l Link) string {
	if l.Branch == 0 {
		return commonColour
	}
	return branchColours[(l.Branch-1)%len(branchColours)]
}

func hopFill(h Hop) string {
	if h.Failed {
		return failFill
	}
	switch h.Type {
	case "Pod":
		return podFill
	case "Service":
		return serviceFill
	case "External":
		return externalFill
	}
	return nodeFill
}

// hopLines are what a hop's box says: its kind and name, and where it stops, why.
func hopLines(h Hop) []string {
	// A node's own hop sits in the node's box, which already says "node".
	name := strings.ToLower(h.Type) + " " + h.Name
	if h.Type == "Node" && h.Group == h.Name {
		name = h.Name + " (host network)"
	}
	out := []string{name}
	if h.Failed {
		out = append(out, failMark+" stops here"+prefix(": ", h.Reason))
	}
	return out
}

// failText is the failure's sentence, cut to a length a picture can hold.
func failText(h Hop) string {
	s := h.ID + prefix(": ", h.Reason) + prefix(": ", h.Message)
	if r := []rune(s); len(r) > maxReasonRunes {
		s = string(r[:maxReasonRunes-1]) + "…"
	}
	return s
}

// branchText names a branch: where the service sends it.
func branchText(g *Graph, n int) string {
	for _, b := range g.Branches {
		if b.N == n {
			return fmt.Sprintf("branch %d of %d: %s → %s", b.N, len(g.Branches), strings.TrimPrefix(b.Service, "service/"), b.Endpoint)
		}
	}
	return ""
}

// sectionText names the part of the way a link is on.
func sectionText(g *Graph, l Link) string {
	if l.Branch == 0 {
		if l.Direction == Reply {
			return "reply"
		}
		return "forward"
	}
	return branchText(g, l.Branch) + ", " + l.Direction.String()
}

func prefix(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}
