package kubectlcmd

import (
	"fmt"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
)

// Exit codes; the package comment says what each means.
const (
	ExitReachable   = 0
	ExitUnreachable = 1
	ExitNoAnswer    = 2
)

// exitCode maps a diagnosis to the command's exit code.
func exitCode(nd *diagv1alpha1.NetworkDiagnosis) int {
	if nd.Status.Phase != diagv1alpha1.PhaseSucceeded {
		return ExitNoAnswer
	}
	switch nd.Status.Verdict {
	case diagv1alpha1.VerdictReachable:
		return ExitReachable
	case diagv1alpha1.VerdictUnknown, "":
		return ExitNoAnswer
	}
	// Unreachable, PartiallyReachable (some of a Service's endpoints fail), and any verdict
	// a later API adds: not all the traffic asked about gets through, which a script must
	// not take for a yes.
	return ExitUnreachable
}

// ExitError ends the command with Code once its output is written; it carries no message
// of its own when Err is nil.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

func (e *ExitError) Unwrap() error { return e.Err }
