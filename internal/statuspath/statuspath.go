package statuspath

import (
	"cmp"
	"fmt"
	"strings"
	"unicode/utf8"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/diagnose"
)

// The bounds mirror the MaxItems and MaxLength markers of api/v1alpha1's PathBranch and
// BranchHop, so that a large result is cut here rather than refused by the API server.
const (
	MaxBranches   = 16
	MaxBranchHops = 40
)

// Branches bounds the branches of a report to the status's limits; truncated is set when
// any was cut.
func Branches(branches []diagnose.ReportBranch) (out []diagv1alpha1.PathBranch, truncated bool) {
	for i, b := range branches {
		if i == MaxBranches {
			return out, true
		}
		pb := diagv1alpha1.PathBranch{To: Truncate(cmp.Or(b.To, b.At), 320), End: diagv1alpha1.BranchEnd(b.End), Why: Truncate(b.Why, 512)}
		if b.Share > 0 {
			pb.Share = fmt.Sprintf("%.0f%%", b.Share*100)
		}
		var cut bool
		pb.Forward, cut = hops(b.Forward)
		truncated = truncated || cut
		pb.Reply, cut = hops(b.Reply)
		truncated = truncated || cut
		out = append(out, pb)
	}
	return out, truncated
}

func hops(hs []diagnose.ReportBranchHop) ([]diagv1alpha1.BranchHop, bool) {
	var out []diagv1alpha1.BranchHop
	for i, h := range hs {
		if i == MaxBranchHops {
			return out, true
		}
		bh := diagv1alpha1.BranchHop{Hop: Truncate(h.At, 320), Did: Truncate(h.Did, 512), Packet: Truncate(h.Packet, 128), Failed: h.Failed}
		if c := h.Choice; c != nil {
			bh.Choice = Truncate(c.String(), 256)
		}
		out = append(out, bh)
	}
	return out, false
}

// Report reads the status's branches back as a report tells them, for the text report
// (diagnose.WriteBranches). What the status does not keep (each hop's steps, the choice's
// rule) is left empty.
func Report(p *diagv1alpha1.PacketPath) []diagnose.ReportBranch {
	if p == nil {
		return nil
	}
	var out []diagnose.ReportBranch
	for _, pb := range p.Branches {
		b := diagnose.ReportBranch{End: string(pb.End), Why: pb.Why, Share: share(pb.Share)}
		b.Forward, b.Reply = reportHops(pb.Forward), reportHops(pb.Reply)
		if last, ok := lastHop(b); ok && last.Failed {
			b.At = last.At
		}
		if b.At == "" || pb.To != b.At {
			b.To = pb.To
		}
		out = append(out, b)
	}
	return out
}

func reportHops(hs []diagv1alpha1.BranchHop) []diagnose.ReportBranchHop {
	var out []diagnose.ReportBranchHop
	for _, h := range hs {
		out = append(out, diagnose.ReportBranchHop{At: h.Hop, Did: h.Did, Packet: h.Packet, Failed: h.Failed})
	}
	return out
}

func lastHop(b diagnose.ReportBranch) (diagnose.ReportBranchHop, bool) {
	switch {
	case len(b.Reply) > 0:
		return b.Reply[len(b.Reply)-1], true
	case len(b.Forward) > 0:
		return b.Forward[len(b.Forward)-1], true
	}
	return diagnose.ReportBranchHop{}, false
}

// share reads "50%" back as 0.5; anything else as no share.
func share(s string) float64 {
	var pct float64
	if _, err := fmt.Sscanf(strings.TrimSuffix(s, "%"), "%g", &pct); err != nil {
		return 0
	}
	return pct / 100
}

// Truncate cuts s to at most n bytes on a rune boundary, marking the cut: a status field
// stays within its MaxLength.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "..."
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
