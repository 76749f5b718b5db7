package diagnose

import (
	"fmt"
	"strings"

	"github.com/netdiag/netdiag/internal/model"
)

// confirm weighs the real connection attempt that the collector on the source's node sent
// (spec.probe) against the simulated verdict. A disagreement is a Warning: the kernel did
// something the snapshot does not explain, so either the state changed, something outside
// the snapshot decides, or the engine is wrong. Where the simulation could not decide, the
// probe's outcome is an Info that helps a person decide. An agreement adds nothing: the
// status shows the probe beside the verdict.
func confirm(in Input, res *Result) {
	src := in.Question.Source
	snap := in.Nodes[src.Node]
	if src.Node == "" || snap == nil || snap.Probe == nil {
		return
	}
	p := snap.Probe
	s := model.Suspicion{Node: src.Node, Level: model.Info, Reason: model.ReasonProbeObserved}
	from := "node " + src.Node
	if src.Type == model.EndpointPod {
		s.Pod = src.Namespace + "/" + src.Name
		from = fmt.Sprintf("pod %s on node %s", s.Pod, src.Node)
	}
	probe := fmt.Sprintf("a real %s probe from %s", in.Question.Protocol, from)
	msg := strings.TrimSuffix(p.Message, ".")
	outcome := "did not get through"
	if p.Reachable {
		outcome = "got through"
	}
	switch {
	case p.Inconclusive:
		s.Message = fmt.Sprintf("%s tells neither way: %s", upper(probe), msg)
		res.Suspicions = append(res.Suspicions, s)
		return
	case res.Verdict == Unknown:
		s.Message = fmt.Sprintf("The simulation could not decide, but %s %s: %s", probe, outcome, msg)
		res.Summary += fmt.Sprintf("; %s %s", probe, outcome)
	case (res.Verdict == Reachable) == p.Reachable:
		return
	case p.Reachable:
		s.Level, s.Reason = model.Warning, model.ReasonProbeDisagrees
		s.Message = fmt.Sprintf("The simulation says Unreachable, but %s got through: %s. "+
			"The fault was mended since the collection, or something the snapshot does not show lets the packet pass, "+
			"or the engine is wrong: trust the probe, and report the snapshot if the state explains nothing", probe, msg)
		res.Summary += fmt.Sprintf("; but %s got through (%s)", probe, s.Reason)
	default:
		s.Level, s.Reason = model.Warning, model.ReasonProbeDisagrees
		s.Message = fmt.Sprintf("The simulation says Reachable, but %s did not get through: %s. "+
			"Something the snapshot does not show stops the packet (a firewall or the underlay between the nodes), "+
			"or the state changed since the collection, or the engine is wrong: trust the probe", probe, msg)
		res.Summary += fmt.Sprintf("; but %s did not get through (%s)", probe, s.Reason)
	}
	res.Suspicions = append(res.Suspicions, s)
}

func upper(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
