package kubectlcmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
)

const (
	// pollInterval is how often the progress line is redrawn, and the object read for it. One
	// read per redraw keeps the loop simple; a watch would add reconnects for no gain at this
	// rate.
	pollInterval = 250 * time.Millisecond
	// defaultTimeout is the API's default spec.timeout.
	defaultTimeout = 2 * time.Minute
	// finishGrace is how long past spec.timeout the command waits for the controller to write
	// the final phase, which it does once the timeout passes.
	finishGrace = 30 * time.Second
	// noControllerAfter is how long a diagnosis may go without a status before the command
	// says that no controller seems to be running; a running one writes it at once.
	noControllerAfter = 15 * time.Second
)

// errNotFinished is returned with the diagnosis as it stands when it did not reach a final
// phase in time.
var errNotFinished = errors.New("no final answer")

// waitLimit is how long to wait for a diagnosis: its own timeout and a grace for the
// controller to say so.
func waitLimit(nd *diagv1alpha1.NetworkDiagnosis) time.Duration {
	t := defaultTimeout
	if nd.Spec.Timeout != nil && nd.Spec.Timeout.Duration > 0 {
		t = nd.Spec.Timeout.Duration
	}
	return t + finishGrace
}

// waitFinished reads the diagnosis until its phase is final, drawing progress, and returns it
// as last read. It gives up after limit with errNotFinished, or when ctx ends with ctx's error.
func waitFinished(ctx context.Context, c client.Client, key client.ObjectKey, started time.Time, limit time.Duration, p *progress) (*diagv1alpha1.NetworkDiagnosis, error) {
	defer p.finish()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	nd := &diagv1alpha1.NetworkDiagnosis{}
	hinted := false
	for {
		latest := &diagv1alpha1.NetworkDiagnosis{}
		err := c.Get(ctx, key, latest)
		switch {
		case ctx.Err() != nil:
			return nd, ctx.Err()
		case apierrors.IsNotFound(err):
			return nd, fmt.Errorf("NetworkDiagnosis %s was deleted before it finished", key)
		case err != nil:
			// A read that fails once (an API server restarting) is tried again on the next
			// tick; one that keeps failing ends at the deadline with its error.
			if time.Now().After(deadline) {
				return nd, fmt.Errorf("read NetworkDiagnosis %s: %w", key, err)
			}
		default:
			nd = latest
			p.update(stateOf(nd, time.Since(started)))
			if nd.Status.Phase.Finished() {
				return nd, nil
			}
			if nd.Status.Phase == "" && !hinted && time.Since(started) > noControllerAfter {
				p.note(fmt.Sprintf("No controller has picked up NetworkDiagnosis %s in %s: is netdiag installed and its manager running? (kubectl -n netdiag-system get deploy)",
					key, noControllerAfter))
				hinted = true
			}
		}
		if time.Now().After(deadline) {
			return nd, fmt.Errorf("%w from NetworkDiagnosis %s within %s (phase %s): is the netdiag controller running?",
				errNotFinished, key, limit, orDash(string(nd.Status.Phase)))
		}
		select {
		case <-ctx.Done():
			return nd, ctx.Err()
		case <-tick.C:
		}
	}
}
