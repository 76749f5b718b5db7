package controllers

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/statuspath"
	"github.com/netdiag/netdiag/internal/transport"
)

// The status is computed here, by small pure functions, so that what a user reads is
// table-tested without an API server.

const (
	// defaultTimeout matches the API default of spec.timeout.
	defaultTimeout = 2 * time.Minute

	// The bounds mirror the MaxItems and MaxLength markers of the API, so that a large
	// result is cut here (and the summary says so) rather than refused by the API server.
	maxSuspicions = 64
	maxHops       = 128
	maxLinks      = 256
	maxBranches   = 16
	maxBranchHops = 40
	maxMessage    = 1024
)

// snapshotState is what the controller found of one node's snapshot ConfigMaps.
type snapshotState struct {
	// Complete is true once every chunk arrived and decoded.
	Complete bool
	// Err is set when the chunks that arrived cannot be decoded.
	Err error
	// Refused, when set, says that chunks from an unexpected writer were refused.
	Refused string
}

// collectorStatus says where the collector of node stands, from its pod (nil when it does
// not exist) and its snapshot.
func collectorStatus(node, podName string, pod *corev1.Pod, snap snapshotState) diagv1alpha1.CollectorStatus {
	st := diagv1alpha1.CollectorStatus{Node: node, Pod: podName}
	var overLimit *transport.LimitError
	switch {
	case errors.As(snap.Err, &overLimit):
		st.Phase = diagv1alpha1.CollectorFailed
		st.Message = fmt.Sprintf("The snapshot of node %s was refused: %v", node, overLimit)
	case snap.Err != nil:
		st.Phase = diagv1alpha1.CollectorFailed
		st.Message = fmt.Sprintf("The snapshot of node %s cannot be read: %v", node, snap.Err)
	case snap.Complete:
		st.Phase = diagv1alpha1.CollectorCollected
	case pod == nil:
		st.Phase = diagv1alpha1.CollectorPending
		st.Message = "Collector pod not created yet"
	case pod.Status.Phase == corev1.PodFailed:
		st.Phase = diagv1alpha1.CollectorFailed
		st.Message = "Collector pod failed: " + podFailure(pod)
	case pod.Status.Phase == corev1.PodSucceeded:
		st.Phase = diagv1alpha1.CollectorFailed
		st.Message = "Collector pod exited without uploading a complete snapshot"
	case pod.DeletionTimestamp != nil:
		st.Phase = diagv1alpha1.CollectorPending
		st.Message = "Collector pod is being deleted and will be created again"
	case pod.Status.Phase == corev1.PodRunning:
		st.Phase = diagv1alpha1.CollectorRunning
		st.Message = "Collecting"
	default:
		st.Phase = diagv1alpha1.CollectorPending
		st.Message = "Collector pod is pending" + waitingReason(pod)
	}
	if st.Phase == diagv1alpha1.CollectorFailed {
		st.Reason = diagv1alpha1.ReasonCollectorFailed
	}
	if snap.Refused != "" {
		st.Message = strings.TrimPrefix(st.Message+"; "+snap.Refused, "; ")
	}
	st.Message = truncate(st.Message, maxMessage)
	return st
}

// podFailure explains why a pod failed: the pod's own reason (DeadlineExceeded, Evicted)
// or its container's termination.
func podFailure(pod *corev1.Pod) string {
	var parts []string
	if pod.Status.Reason != "" {
		parts = append(parts, pod.Status.Reason)
	}
	if pod.Status.Message != "" {
		parts = append(parts, pod.Status.Message)
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil {
			s := fmt.Sprintf("container %s exited with code %d", cs.Name, t.ExitCode)
			if t.Reason != "" {
				s += " (" + t.Reason + ")"
			}
			if msg := strings.TrimSpace(t.Message); msg != "" {
				s += ": " + msg
			}
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return "no reason given"
	}
	return strings.Join(parts, "; ")
}

// waitingReason says why a pending pod's container waits, e.g. ": ImagePullBackOff".
func waitingReason(pod *corev1.Pod) string {
	for _, cs := range pod.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			if w.Message != "" {
				return ": " + w.Reason + ": " + w.Message
			}
			return ": " + w.Reason
		}
	}
	return ""
}

// final reports whether a collector will not change any more.
func final(c diagv1alpha1.CollectorStatus) bool {
	return c.Phase == diagv1alpha1.CollectorCollected || c.Phase == diagv1alpha1.CollectorFailed
}

// giveUp marks a collector that has not reported by the deadline as failed.
func giveUp(c diagv1alpha1.CollectorStatus, after time.Duration) diagv1alpha1.CollectorStatus {
	if final(c) {
		return c
	}
	msg := fmt.Sprintf("No snapshot from node %s within %s", c.Node, after)
	if c.Message != "" {
		msg += " (" + strings.TrimSuffix(c.Message, ".") + ")"
	}
	c.Phase = diagv1alpha1.CollectorFailed
	c.Reason = diagv1alpha1.ReasonTimeout
	c.Message = truncate(msg, maxMessage)
	return c
}

// failureReason is the Collected condition's reason when collectors failed: Timeout when
// the deadline decided, else the first failed collector's own (NodeGone, NodeNotReady,
// CollectorFailed), so that a script learns the cause from one field.
func failureReason(collectors []diagv1alpha1.CollectorStatus, gaveUp bool) string {
	if gaveUp {
		return diagv1alpha1.ReasonTimeout
	}
	for _, c := range collectors {
		if c.Phase == diagv1alpha1.CollectorFailed && c.Reason != "" {
			return c.Reason
		}
	}
	return diagv1alpha1.ReasonCollectorFailed
}

// collectOutcome is where the collection stands as a whole.
type collectOutcome struct {
	// Done is true when every collector is final.
	Done bool
	// Collected and Failed name the nodes in each final state, in status order.
	Collected, Failed []string
}

func outcome(collectors []diagv1alpha1.CollectorStatus) collectOutcome {
	o := collectOutcome{Done: true}
	for _, c := range collectors {
		switch c.Phase {
		case diagv1alpha1.CollectorCollected:
			o.Collected = append(o.Collected, c.Node)
		case diagv1alpha1.CollectorFailed:
			o.Failed = append(o.Failed, c.Node)
		default:
			o.Done = false
		}
	}
	return o
}

// failureMessage joins the messages of the failed collectors, one per node.
func failureMessage(collectors []diagv1alpha1.CollectorStatus) string {
	var parts []string
	for _, c := range collectors {
		if c.Phase == diagv1alpha1.CollectorFailed {
			parts = append(parts, "node "+c.Node+": "+c.Message)
		}
	}
	return truncate(strings.Join(parts, "; "), maxMessage)
}

// deadline reports whether a run that started at start has used up its timeout at now, and
// otherwise how long it has left.
func deadline(start *metav1.Time, timeout time.Duration, now time.Time) (expired bool, left time.Duration) {
	if start == nil {
		return false, timeout
	}
	left = start.Add(timeout).Sub(now)
	return left <= 0, left
}

// ttlLeft reports whether a finished diagnosis is due for deletion and otherwise when.
// ok is false when no TTL applies.
func ttlLeft(status diagv1alpha1.NetworkDiagnosisStatus, ttl *int32, now time.Time) (ok, expired bool, left time.Duration) {
	if ttl == nil || status.CompletionTime == nil || !status.Phase.Finished() {
		return false, false, 0
	}
	left = status.CompletionTime.Add(time.Duration(*ttl) * time.Second).Sub(now)
	return true, left <= 0, left
}

// applyResult writes the engine's answer into the status, bounded to the API's limits.
// partial names the nodes that could not be collected, if any.
func applyResult(st *diagv1alpha1.NetworkDiagnosisStatus, res *diagnose.Result, partial []string) {
	st.Verdict = verdict(res.Verdict)
	st.Suspicions = nil
	for i, s := range res.Suspicions {
		if i == maxSuspicions {
			break
		}
		st.Suspicions = append(st.Suspicions, suspicion(s))
	}
	st.PacketPath = packetPath(res.Path)
	if st.PacketPath != nil {
		var cut bool
		st.PacketPath.Branches, cut = statuspath.Branches(diagnose.Branches(res))
		st.PacketPath.Truncated = st.PacketPath.Truncated || cut
	}
	st.Where, st.Why = whereWhy(res)
	if st.Why != "" {
		st.Remedy = truncate(diagnose.NewAnswer(res).Do, maxMessage)
	}

	summary := res.Summary
	if summary == "" {
		summary = string(st.Verdict)
	}
	var notes []string
	if len(partial) > 0 {
		notes = append(notes, "partial: not collected from "+strings.Join(partial, ", "))
	}
	if n := len(res.Suspicions) - maxSuspicions; n > 0 {
		notes = append(notes, fmt.Sprintf("%d more suspicions not shown", n))
	}
	if st.PacketPath != nil && st.PacketPath.Truncated {
		notes = append(notes, "packet path cut")
	}
	if len(notes) > 0 {
		summary += " (" + strings.Join(notes, "; ") + ")"
	}
	st.Summary = truncate(summary, maxMessage)
}

// answerNote is the event of a finished diagnosis: the answer in one line and, when a
// suspicion decided it, what to do, so that `kubectl describe` and `kubectl get events`
// tell the whole short answer.
func answerNote(st *diagv1alpha1.NetworkDiagnosisStatus) string {
	if st.Remedy == "" {
		return st.Summary
	}
	return strings.TrimSuffix(st.Summary, ".") + ". To do: " + st.Remedy
}

func verdict(v diagnose.Verdict) diagv1alpha1.Verdict {
	switch v {
	case diagnose.Reachable:
		return diagv1alpha1.VerdictReachable
	case diagnose.Unreachable:
		return diagv1alpha1.VerdictUnreachable
	case diagnose.PartiallyReachable:
		return diagv1alpha1.VerdictPartiallyReachable
	}
	return diagv1alpha1.VerdictUnknown
}

func suspicion(s model.Suspicion) diagv1alpha1.Suspicion {
	return diagv1alpha1.Suspicion{
		Level:     diagv1alpha1.SuspicionLevel(s.Level.String()),
		Reason:    truncate(string(s.Reason), 64),
		Node:      truncate(s.Node, 253),
		Pod:       truncate(s.Pod, 317),
		Interface: truncate(s.Interface, 64),
		Rule:      truncate(s.Rule, 1024),
		Message:   truncate(s.Message, maxMessage),
	}
}

func packetPath(p *model.PacketPath) *diagv1alpha1.PacketPath {
	if p == nil || (len(p.Nodes) == 0 && len(p.Links) == 0) {
		return nil
	}
	out := &diagv1alpha1.PacketPath{}
	for i, n := range p.Nodes {
		if i == maxHops {
			out.Truncated = true
			break
		}
		out.Hops = append(out.Hops, diagv1alpha1.Hop{
			ID:     truncate(n.ID, 320),
			Type:   hopType(n.Type),
			Name:   truncate(n.Name, 317),
			Node:   truncate(n.Node, 253),
			Failed: p.Failed[n.ID],
		})
	}
	for i, l := range p.Links {
		if i == maxLinks {
			out.Truncated = true
			break
		}
		link := diagv1alpha1.Link{
			From:          truncate(l.From, 320),
			To:            truncate(l.To, 320),
			Type:          truncate(string(l.Type), 32),
			FromInterface: truncate(l.FromInterface, 64),
			ToInterface:   truncate(l.ToInterface, 64),
		}
		if l.Packet.Src.IsValid() {
			link.Packet = truncate(l.Packet.String(), 128)
		}
		out.Links = append(out.Links, link)
	}
	return out
}

func hopType(t model.NetNodeType) diagv1alpha1.HopType {
	switch t {
	case model.NetNodePod:
		return diagv1alpha1.HopPod
	case model.NetNodeNode:
		return diagv1alpha1.HopNode
	case model.NetNodeService:
		return diagv1alpha1.HopService
	}
	return diagv1alpha1.HopExternal
}

// whereWhy picks the place and the reason code a one-line answer shows: the first hop where
// the packet stops, and the most severe suspicion's code (the engine orders them). A
// reachable path has neither unless something blocks some of the traffic.
func whereWhy(res *diagnose.Result) (where, why string) {
	if len(res.Suspicions) == 0 {
		return "", ""
	}
	top := res.Suspicions[0]
	if res.Verdict == diagnose.Reachable && top.Level < model.Warning {
		return "", ""
	}
	if res.Path != nil {
		if i := slices.IndexFunc(res.Path.Nodes, func(n *model.NetNode) bool { return res.Path.Failed[n.ID] }); i >= 0 {
			where = res.Path.Nodes[i].Name
		}
	}
	if where == "" {
		where = top.Where()
	}
	return truncate(where, 512), truncate(string(top.Reason), 64)
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string { return statuspath.Truncate(s, n) }
