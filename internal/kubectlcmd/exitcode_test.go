package kubectlcmd

import (
	"testing"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
)

func TestExitCode(t *testing.T) {
	cases := map[string]struct {
		phase   diagv1alpha1.Phase
		verdict diagv1alpha1.Verdict
		want    int
	}{
		"reachable":                          {diagv1alpha1.PhaseSucceeded, diagv1alpha1.VerdictReachable, 0},
		"unreachable":                        {diagv1alpha1.PhaseSucceeded, diagv1alpha1.VerdictUnreachable, 1},
		"unknown":                            {diagv1alpha1.PhaseSucceeded, diagv1alpha1.VerdictUnknown, 2},
		"partially reachable":                {diagv1alpha1.PhaseSucceeded, diagv1alpha1.VerdictPartiallyReachable, 1},
		"a verdict the API adds later":       {diagv1alpha1.PhaseSucceeded, "MostlyReachable", 1},
		"succeeded without a verdict":        {diagv1alpha1.PhaseSucceeded, "", 2},
		"failed":                             {diagv1alpha1.PhaseFailed, "", 2},
		"failed, whatever verdict is left":   {diagv1alpha1.PhaseFailed, diagv1alpha1.VerdictReachable, 2},
		"still collecting":                   {diagv1alpha1.PhaseCollecting, "", 2},
		"not picked up by the controller":    {"", "", 2},
		"diagnosing with an earlier verdict": {diagv1alpha1.PhaseDiagnosing, diagv1alpha1.VerdictReachable, 2},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			nd := &diagv1alpha1.NetworkDiagnosis{Status: diagv1alpha1.NetworkDiagnosisStatus{Phase: c.phase, Verdict: c.verdict}}
			if got := exitCode(nd); got != c.want {
				t.Errorf("exitCode(phase %q, verdict %q) = %d, want %d", c.phase, c.verdict, got, c.want)
			}
		})
	}
}
