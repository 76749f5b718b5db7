package diagnose

import (
	"fmt"
	"io"
	"strings"

	"github.com/netdiag/netdiag/internal/model"
)

// TextOptions choose how much the text report shows.
type TextOptions struct {
	// Steps lists every step of each hop under it: the routes, neighbours and rules the
	// short lines leave out (`netdiag diagnose -o wide`).
	Steps bool
}

// WriteText draws the result for a person, in the order one reads it: the short answer
// (verdict, where, why, what to do), then each branch of the packet's way as its forward
// path and then its reply, one hop a line, the service's choice at the hop that made it,
// then every suspicion.
func WriteText(w io.Writer, q model.Question, res *Result) error {
	return WriteReportText(w, NewReport(q, res), TextOptions{})
}

// WriteReportText draws a report as WriteText does; a report read back from JSON or YAML
// draws the same text.
func WriteReportText(w io.Writer, r Report, o TextOptions) error {
	var b strings.Builder
	a := r.Answer
	fmt.Fprintf(&b, "Verdict:  %s\n", a.Verdict)
	fmt.Fprintf(&b, "Question: %s\n", r.Question.Text)
	fmt.Fprintf(&b, "Answer:   %s\n", a.Summary)
	for _, l := range [][2]string{{"Where:", a.Where}, {"Why:", a.Why}, {"Do:", a.Do}} {
		if l[1] != "" {
			fmt.Fprintf(&b, "%-9s %s\n", l[0], l[1])
		}
	}
	fmt.Fprintf(&b, "Plugin:   %s\n", r.Plugin)
	writeBranches(&b, r.Branches, o)
	if len(r.Suspicions) > 0 {
		b.WriteString("\nSuspicions:\n")
		for _, s := range r.Suspicions {
			where := (model.Suspicion{Node: s.Node, Pod: s.Pod, Interface: s.Interface}).Where()
			if where == "" {
				where = "-"
			}
			fmt.Fprintf(&b, "  %-8s %-24s %-28s %s\n", s.Level, s.Reason, where, s.Message)
			if s.Rule != "" {
				fmt.Fprintf(&b, "  %-8s %-24s %-28s rule: %s\n", "", "", "", s.Rule)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteBranches draws the branches of a report alone, as WriteText does: for a client that
// has them from elsewhere (a NetworkDiagnosis's status, read back by statuspath.Report).
func WriteBranches(w io.Writer, branches []ReportBranch, o TextOptions) error {
	var b strings.Builder
	writeBranches(&b, branches, o)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeBranches writes each branch: a heading with where it goes, its share and how it
// ended, then the forward hops and the reply's.
func writeBranches(b *strings.Builder, branches []ReportBranch, o TextOptions) {
	width := 0
	for _, br := range branches {
		for _, h := range append(br.Forward, br.Reply...) {
			width = max(width, len(h.At))
		}
	}
	for i, br := range branches {
		fmt.Fprintf(b, "\nBranch %d of %d", i+1, len(branches))
		if br.To != "" {
			fmt.Fprintf(b, ": to %s", br.To)
		}
		if br.Share > 0 {
			fmt.Fprintf(b, ", %.0f%% of new connections", br.Share*100)
		}
		fmt.Fprintf(b, ": %s", br.End)
		if br.At != "" {
			fmt.Fprintf(b, " at %s", br.At)
			if br.Why != "" {
				fmt.Fprintf(b, " (%s)", br.Why)
			}
		}
		b.WriteByte('\n')
		writeWay(b, "forward", br.Forward, width, o)
		writeWay(b, "reply", br.Reply, width, o)
	}
}

// writeWay writes one direction of a branch: its label with the packet as it starts, then
// a line a hop, the hop where the branch stops marked.
func writeWay(b *strings.Builder, label string, hops []ReportBranchHop, width int, o TextOptions) {
	if len(hops) == 0 {
		return
	}
	b.WriteString("  " + label)
	if hops[0].Packet != "" {
		fmt.Fprintf(b, "  %s", hops[0].Packet)
	}
	b.WriteByte('\n')
	for _, h := range hops {
		if h.Failed {
			fmt.Fprintf(b, "    %s  ✗ stops here\n", h.At)
			if h.Did != "" {
				fmt.Fprintf(b, "    %-*s  %s\n", width, "", h.Did)
			}
		} else {
			b.WriteString(strings.TrimRight(fmt.Sprintf("    %-*s  %s", width, h.At, h.Did), " ") + "\n")
		}
		if o.Steps {
			for _, st := range h.Steps {
				fmt.Fprintf(b, "    %-*s    %-10s %s", width, "", st.Component, st.Action)
				if st.Detail != "" {
					fmt.Fprintf(b, ": %s", st.Detail)
				}
				b.WriteByte('\n')
			}
		}
	}
}
