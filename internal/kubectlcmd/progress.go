package kubectlcmd

import (
	"fmt"
	"io"
	"time"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
)

// progressState is what the progress line shows of a diagnosis at one moment.
type progressState struct {
	name    string
	phase   diagv1alpha1.Phase
	done    int // collectors that reported or failed
	total   int
	elapsed time.Duration
}

func stateOf(nd *diagv1alpha1.NetworkDiagnosis, elapsed time.Duration) progressState {
	st := progressState{name: nd.Name, phase: nd.Status.Phase, total: len(nd.Status.Collectors), elapsed: elapsed}
	for _, c := range nd.Status.Collectors {
		if c.Phase == diagv1alpha1.CollectorCollected || c.Phase == diagv1alpha1.CollectorFailed {
			st.done++
		}
	}
	return st
}

// line is the state in words, e.g. "web-to-db-x7k2p: Collecting, 1/2 collectors done, 3.4s".
func (s progressState) line() string {
	phase := string(s.phase)
	if phase == "" {
		// The controller has not written a status yet; if it never does, it is not running.
		phase = "waiting for the controller"
	}
	collectors := ""
	if s.total > 0 {
		collectors = fmt.Sprintf(", %d/%d collectors done", s.done, s.total)
	}
	return fmt.Sprintf("%s: %s%s, %s", s.name, phase, collectors, s.elapsed.Truncate(100*time.Millisecond))
}

// progress draws the state on stderr: on a terminal one line redrawn in place, elsewhere (a
// log, a CI job) a line each time the phase or the count changes, so a log is not flooded
// with ticks of the clock.
type progress struct {
	w   io.Writer
	tty bool
	// last is the last state drawn; drawn says whether there is one.
	last  progressState
	drawn bool
}

func (p *progress) update(s progressState) {
	switch {
	case p.tty:
		// Carriage return, then erase to the end of the line.
		fmt.Fprintf(p.w, "\r\x1b[K%s", s.line())
	case !p.drawn || s.phase != p.last.phase || s.done != p.last.done || s.total != p.last.total:
		fmt.Fprintln(p.w, s.line())
	}
	p.last, p.drawn = s, true
}

// note prints a line of its own between progress lines.
func (p *progress) note(msg string) {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
	}
	fmt.Fprintln(p.w, msg)
	// On a terminal the next update starts a fresh line below the note.
	p.drawn = p.drawn && !p.tty
}

// finish ends the progress line so what follows starts on a line of its own.
func (p *progress) finish() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
	}
}
