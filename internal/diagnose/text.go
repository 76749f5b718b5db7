package diagnose

import (
	"fmt"
	"io"
	"strings"

	"github.com/netdiag/netdiag/internal/model"
)

// WriteText draws the result for a person: the verdict, then the path hop by hop with what
// each NetNode did and the suspicions found there, then every suspicion.
func WriteText(w io.Writer, q model.Question, res *Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Verdict:  %s\n", res.Verdict)
	fmt.Fprintf(&b, "Question: %s\n", describe(q))
	fmt.Fprintf(&b, "Plugin:   %s\n", res.NetworkPlugin)
	fmt.Fprintf(&b, "Summary:  %s\n", res.Summary)
	if res.Path != nil && len(res.Path.Nodes) > 0 {
		b.WriteString("\nPath:\n")
		placed := map[int]bool{}
		for _, n := range res.Path.Nodes {
			mark := ""
			if res.Path.Failed[n.ID] {
				mark = "  ✗ stops here"
			}
			fmt.Fprintf(&b, "  ● %s%s\n", n.ID, mark)
			for _, st := range res.Trace {
				if st.NodeID != n.ID {
					continue
				}
				fmt.Fprintf(&b, "      %-10s %s", st.Component, st.Action)
				if st.Detail != "" {
					fmt.Fprintf(&b, ": %s", st.Detail)
				}
				b.WriteByte('\n')
			}
			for i, s := range res.Suspicions {
				if !placed[i] && suspicionAt(s, n) {
					placed[i] = true
					fmt.Fprintf(&b, "      ! %s %s: %s\n", s.Level, s.Reason, s.Message)
				}
			}
			for _, l := range res.Path.Links {
				if l.From != n.ID {
					continue
				}
				ifs := l.FromInterface
				if l.ToInterface != "" {
					ifs += " → " + l.ToInterface
				}
				fmt.Fprintf(&b, "    │ %s %s  %s\n", l.Type, strings.TrimSpace(ifs), l.Packet)
				fmt.Fprintf(&b, "    ▼ %s\n", l.To)
			}
		}
	}
	if len(res.Suspicions) > 0 {
		b.WriteString("\nSuspicions:\n")
		for _, s := range res.Suspicions {
			where := s.Where()
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

func suspicionAt(s model.Suspicion, n *model.NetNode) bool {
	switch n.Type {
	case model.NetNodePod:
		return s.Pod == n.Name
	case model.NetNodeNode:
		return s.Pod == "" && s.Node == n.Name
	}
	return false
}
