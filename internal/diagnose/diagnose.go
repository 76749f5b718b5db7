package diagnose

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/netdiag/netdiag/internal/model"
)

// Diagnose answers in.Question from the snapshot in in: it walks the packet from the source
// to the destination through the nodes' real state and returns the verdict, the suspicions
// (most severe first) and the packet path. An error means the input cannot be diagnosed at
// all (no cluster snapshot, an endpoint without an address); everything the engine finds on
// the way, including missing node snapshots, is a suspicion instead.
func Diagnose(in Input) (*Result, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	res := &Result{Path: model.NewPacketPath(), NetworkPlugin: in.NetworkPlugin}
	for _, node := range Plan(in.Cluster, in.Question).Nodes() {
		if in.Nodes[node] == nil {
			res.Suspicions = append(res.Suspicions, model.Suspicion{
				Level: model.Info, Reason: model.ReasonSnapshotMissing, Node: node,
				Message: fmt.Sprintf("Node %s was not collected, so its part of the path is not checked", node),
			})
		}
	}
	sortSuspicions(res.Suspicions)
	res.Verdict = Unknown
	res.Summary = "Unknown: the path was not simulated"
	return res, nil
}

func validate(in Input) error {
	if in.Cluster == nil {
		return errors.New("diagnose: no cluster snapshot")
	}
	q := in.Question
	if !q.Source.IP.IsValid() {
		return fmt.Errorf("diagnose: source %s has no address", q.Source)
	}
	if !q.Destination.IP.IsValid() {
		return fmt.Errorf("diagnose: destination %s has no address", q.Destination)
	}
	switch q.Protocol {
	case model.TCP, model.UDP:
		if q.Port == 0 {
			return fmt.Errorf("diagnose: protocol %s needs a port", q.Protocol)
		}
	case model.ICMP:
	default:
		return fmt.Errorf("diagnose: unknown protocol %q (want TCP, UDP or ICMP)", q.Protocol)
	}
	return nil
}

// sortSuspicions orders the most severe first, then by place and code so that the output is
// stable.
func sortSuspicions(s []model.Suspicion) {
	slices.SortStableFunc(s, func(a, b model.Suspicion) int {
		return cmp.Or(
			cmp.Compare(b.Level, a.Level),
			cmp.Compare(a.Node, b.Node),
			cmp.Compare(a.Pod, b.Pod),
			cmp.Compare(a.Reason, b.Reason),
		)
	})
}
