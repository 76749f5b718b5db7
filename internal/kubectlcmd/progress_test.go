package kubectlcmd

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
)

func diagnosisAt(phase diagv1alpha1.Phase, collectors ...diagv1alpha1.CollectorPhase) *diagv1alpha1.NetworkDiagnosis {
	nd := &diagv1alpha1.NetworkDiagnosis{}
	nd.Name = "web-to-db-x7k2p"
	nd.Status.Phase = phase
	for i, c := range collectors {
		nd.Status.Collectors = append(nd.Status.Collectors, diagv1alpha1.CollectorStatus{Node: "node-" + string(rune('1'+i)), Phase: c})
	}
	return nd
}

func TestProgressLine(t *testing.T) {
	cases := map[string]struct {
		nd      *diagv1alpha1.NetworkDiagnosis
		elapsed time.Duration
		want    string
	}{
		"not picked up": {diagnosisAt(""), 1234 * time.Millisecond, "web-to-db-x7k2p: waiting for the controller, 1.2s"},
		"pending":       {diagnosisAt(diagv1alpha1.PhasePending), 300 * time.Millisecond, "web-to-db-x7k2p: Pending, 300ms"},
		"collecting": {diagnosisAt(diagv1alpha1.PhaseCollecting, diagv1alpha1.CollectorCollected, diagv1alpha1.CollectorRunning, diagv1alpha1.CollectorPending),
			3456 * time.Millisecond, "web-to-db-x7k2p: Collecting, 1/3 collectors done, 3.4s"},
		"a failed collector is done too": {diagnosisAt(diagv1alpha1.PhaseDiagnosing, diagv1alpha1.CollectorCollected, diagv1alpha1.CollectorFailed),
			5 * time.Second, "web-to-db-x7k2p: Diagnosing, 2/2 collectors done, 5s"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := stateOf(c.nd, c.elapsed).line(); got != c.want {
				t.Errorf("line = %q, want %q", got, c.want)
			}
		})
	}
}

func TestProgressOnATerminalRedrawsOneLine(t *testing.T) {
	var out bytes.Buffer
	p := &progress{w: &out, tty: true}
	p.update(stateOf(diagnosisAt(diagv1alpha1.PhasePending), time.Second))
	p.update(stateOf(diagnosisAt(diagv1alpha1.PhasePending), 2*time.Second))
	p.update(stateOf(diagnosisAt(diagv1alpha1.PhaseSucceeded, diagv1alpha1.CollectorCollected), 3*time.Second))
	p.finish()
	want := "\r\x1b[Kweb-to-db-x7k2p: Pending, 1s" +
		"\r\x1b[Kweb-to-db-x7k2p: Pending, 2s" +
		"\r\x1b[Kweb-to-db-x7k2p: Succeeded, 1/1 collectors done, 3s\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("terminal output (-want +got):\n%s", diff)
	}
}

func TestProgressElsewherePrintsChangesOnly(t *testing.T) {
	var out bytes.Buffer
	p := &progress{w: &out}
	steps := []struct {
		nd *diagv1alpha1.NetworkDiagnosis
		at time.Duration
	}{
		{diagnosisAt(diagv1alpha1.PhasePending), 250 * time.Millisecond},
		{diagnosisAt(diagv1alpha1.PhasePending), 500 * time.Millisecond},
		{diagnosisAt(diagv1alpha1.PhaseCollecting, diagv1alpha1.CollectorRunning, diagv1alpha1.CollectorRunning), time.Second},
		{diagnosisAt(diagv1alpha1.PhaseCollecting, diagv1alpha1.CollectorRunning, diagv1alpha1.CollectorRunning), 1500 * time.Millisecond},
		{diagnosisAt(diagv1alpha1.PhaseCollecting, diagv1alpha1.CollectorCollected, diagv1alpha1.CollectorRunning), 2 * time.Second},
		{diagnosisAt(diagv1alpha1.PhaseSucceeded, diagv1alpha1.CollectorCollected, diagv1alpha1.CollectorCollected), 3 * time.Second},
	}
	for _, s := range steps {
		p.update(stateOf(s.nd, s.at))
	}
	p.finish()
	want := `web-to-db-x7k2p: Pending, 200ms
web-to-db-x7k2p: Collecting, 0/2 collectors done, 1s
web-to-db-x7k2p: Collecting, 1/2 collectors done, 2s
web-to-db-x7k2p: Succeeded, 2/2 collectors done, 3s
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("log output (-want +got):\n%s", diff)
	}
}

func TestProgressNoteStandsOnItsOwnLine(t *testing.T) {
	for name, c := range map[string]struct {
		tty  bool
		want string
	}{
		"terminal": {true, "\r\x1b[Kweb-to-db-x7k2p: waiting for the controller, 15s\nno controller\n\r\x1b[Kweb-to-db-x7k2p: waiting for the controller, 16s\n"},
		"log":      {false, "web-to-db-x7k2p: waiting for the controller, 15s\nno controller\n"},
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			p := &progress{w: &out, tty: c.tty}
			p.update(stateOf(diagnosisAt(""), 15*time.Second))
			p.note("no controller")
			p.update(stateOf(diagnosisAt(""), 16*time.Second))
			p.finish()
			if diff := cmp.Diff(c.want, out.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}
