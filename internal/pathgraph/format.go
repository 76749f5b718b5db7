package pathgraph

import (
	"fmt"
	"io"
	"slices"
)

// Formats are the picture formats Write takes, as `-o` names them.
var Formats = []string{"dot", "mermaid", "svg"}

// IsFormat reports whether an output format is a picture's.
func IsFormat(format string) bool { return slices.Contains(Formats, format) }

// Write writes g in the format named (one of Formats).
func Write(w io.Writer, format string, g *Graph) error {
	switch format {
	case "dot":
		return WriteDOT(w, g)
	case "mermaid":
		return WriteMermaid(w, g)
	case "svg":
		return WriteSVG(w, g)
	}
	return fmt.Errorf("picture format %q: want one of %v", format, Formats)
}
