package kubectlcmd

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/statuspath"
)

// writeReport prints a diagnosis for a person from its status: the short answer first
// (verdict, the question, where and why, the summary), then the suspicions, the path hop by
// hop, the probe, and, when the diagnosis did not succeed, the conditions that say why.
func writeReport(w io.Writer, nd *diagv1alpha1.NetworkDiagnosis) error {
	var b strings.Builder
	st := nd.Status
	fmt.Fprintf(&b, "Verdict:  %s\n", answer(nd))
	fmt.Fprintf(&b, "Question: %s\n", question(nd))
	if st.Where != "" || st.Why != "" {
		fmt.Fprintf(&b, "Where:    %s\n", orDash(st.Where))
		fmt.Fprintf(&b, "Why:      %s\n", orDash(st.Why))
	}
	if st.Remedy != "" {
		fmt.Fprintf(&b, "Do:       %s\n", st.Remedy)
	}
	if st.Summary != "" {
		fmt.Fprintf(&b, "Summary:  %s\n", st.Summary)
	}
	if len(st.Suspicions) > 0 {
		b.WriteString("\nSuspicions:\n")
		for _, s := range st.Suspicions {
			fmt.Fprintf(&b, "  %-8s %-24s %-28s %s\n", s.Level, s.Reason, orDash(suspicionPlace(s)), s.Message)
			if s.Rule != "" {
				fmt.Fprintf(&b, "  %-8s %-24s %-28s rule: %s\n", "", "", "", s.Rule)
			}
		}
	}
	writePath(&b, st.PacketPath)
	if p := st.Probe; p != nil {
		fmt.Fprintf(&b, "\nProbe:    %s\n", probeLine(p))
	}
	if st.Phase != diagv1alpha1.PhaseSucceeded {
		writeConditions(&b, st.Conditions, false)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeDescription is writeReport with everything else a person debugging the diagnosis
// itself needs: each collector, every condition and the object's events, oldest first.
func writeDescription(w io.Writer, nd *diagv1alpha1.NetworkDiagnosis, events []corev1.Event) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Name:      %s\nNamespace: %s\nCreated:   %s\n", nd.Name, nd.Namespace, nd.CreationTimestamp.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "Phase:     %s\n", orDash(string(nd.Status.Phase)))
	if st, end := nd.Status.StartTime, nd.Status.CompletionTime; st != nil && end != nil {
		// The API keeps these times to the second.
		took := "under 1s"
		if d := end.Sub(st.Time); d >= time.Second {
			took = d.String()
		}
		fmt.Fprintf(&b, "Took:      %s\n", took)
	}
	b.WriteByte('\n')
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if err := writeReport(w, nd); err != nil {
		return err
	}
	b.Reset()
	if cs := nd.Status.Collectors; len(cs) > 0 {
		b.WriteString("\nCollectors:\n")
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		for _, c := range cs {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.Node, c.Phase, c.Message)
		}
		_ = tw.Flush()
	}
	if nd.Status.Phase == diagv1alpha1.PhaseSucceeded {
		writeConditions(&b, nd.Status.Conditions, true)
	}
	b.WriteString("\nEvents:")
	if len(events) == 0 {
		b.WriteString("  <none>\n")
	} else {
		b.WriteByte('\n')
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		for _, e := range events {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", e.Type, e.Reason, age(eventTime(e)), e.Message)
		}
		_ = tw.Flush()
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeConditions(b *strings.Builder, conds []metav1.Condition, all bool) {
	var lines []string
	for _, c := range conds {
		if all || c.Status != metav1.ConditionTrue {
			lines = append(lines, fmt.Sprintf("  %-18s %-7s %-22s %s\n", c.Type, c.Status, c.Reason, c.Message))
		}
	}
	if len(lines) == 0 {
		return
	}
	b.WriteString("\nConditions:\n")
	for _, l := range lines {
		b.WriteString(l)
	}
}

// writePath draws the path as `netdiag diagnose` does: each branch forward and then back,
// from the branches the controller wrote. A status without branches (a controller from
// before they existed) shows its hops in order.
func writePath(b *strings.Builder, p *diagv1alpha1.PacketPath) {
	if p == nil || len(p.Hops) == 0 && len(p.Branches) == 0 {
		return
	}
	if branches := statuspath.Report(p); len(branches) > 0 {
		// Each branch starts with its own blank line. A strings.Builder never fails a write.
		_ = diagnose.WriteBranches(b, branches, diagnose.TextOptions{})
	} else {
		b.WriteString("\nPath:\n")
		for _, h := range p.Hops {
			mark := ""
			if h.Failed {
				mark = "  ✗ stops here"
			}
			fmt.Fprintf(b, "  ● %s%s\n", hopName(h), mark)
		}
	}
	if p.Truncated {
		b.WriteString("  … the path was cut to keep the status small\n")
	}
}

func hopName(h diagv1alpha1.Hop) string {
	s := strings.ToLower(string(h.Type)) + " " + h.Name
	if h.Node != "" && h.Type == diagv1alpha1.HopPod {
		s += " on " + h.Node
	}
	return s
}

// answer is the verdict, or where the diagnosis stands when it has none yet.
func answer(nd *diagv1alpha1.NetworkDiagnosis) string {
	st := nd.Status
	switch {
	case st.Verdict != "":
		return string(st.Verdict)
	case st.Phase == diagv1alpha1.PhaseFailed:
		return "none (the diagnosis failed)"
	case st.Phase == "":
		return "none yet (the controller has not picked it up)"
	}
	return "none yet (" + string(st.Phase) + ")"
}

// question says what was asked, with the resolved addresses once the controller found them.
func question(nd *diagv1alpha1.NetworkDiagnosis) string {
	src, dst := nd.Status.SourceSummary, nd.Status.DestinationSummary
	if src == "" {
		src = sourceRef(nd)
	}
	if dst == "" {
		dst = destinationRef(nd)
	}
	q := fmt.Sprintf("%s -> %s %s", src, dst, nd.Spec.Protocol)
	if nd.Spec.Port != nil {
		q += fmt.Sprintf(" %d", *nd.Spec.Port)
	}
	return q
}

func sourceRef(nd *diagv1alpha1.NetworkDiagnosis) string {
	s := nd.Spec.Source
	return refString(nd.Namespace, s.Pod, s.Node, nil, s.IP)
}

func destinationRef(nd *diagv1alpha1.NetworkDiagnosis) string {
	d := nd.Spec.Destination
	return refString(nd.Namespace, d.Pod, d.Node, d.Service, d.IP)
}

// refString names an endpoint as the command line does, with its namespace.
func refString(ns string, pod *diagv1alpha1.PodReference, node *diagv1alpha1.NodeReference, svc *diagv1alpha1.ServiceReference, ip string) string {
	switch {
	case pod != nil:
		return "pod/" + inNamespace(pod.Namespace, ns) + pod.Name
	case svc != nil:
		return "service/" + inNamespace(svc.Namespace, ns) + svc.Name
	case node != nil:
		return "node/" + node.Name
	}
	return "ip/" + ip
}

func inNamespace(ns, def string) string {
	if ns == "" {
		ns = def
	}
	return ns + "/"
}

func suspicionPlace(s diagv1alpha1.Suspicion) string {
	var parts []string
	for _, p := range []string{s.Node, s.Pod, s.Interface} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " ")
}

func probeLine(p *diagv1alpha1.ProbeResult) string {
	switch {
	case p.Inconclusive:
		return "inconclusive: " + p.Message
	case p.Reachable:
		return "reached: " + p.Message
	}
	return "not reached: " + p.Message
}

// writeRow prints the diagnosis as `kubectl get nd` does.
func writeRow(w io.Writer, nd *diagv1alpha1.NetworkDiagnosis, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSOURCE\tDESTINATION\tPORT\tPHASE\tVERDICT\tWHERE\tWHY\tAGE")
	port := ""
	if nd.Spec.Port != nil {
		port = fmt.Sprint(*nd.Spec.Port)
	}
	st := nd.Status
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", nd.Name, orDash(st.SourceSummary), orDash(st.DestinationSummary), port,
		orDash(string(st.Phase)), orDash(string(st.Verdict)), st.Where, st.Why, duration.HumanDuration(now.Sub(nd.CreationTimestamp.Time)))
	return tw.Flush()
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return duration.HumanDuration(time.Since(t))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
