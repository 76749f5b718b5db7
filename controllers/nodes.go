package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
)

// A node decides two things about its collector: whether one may run there at all (a
// control-plane node only when the manager allows it), and whether waiting for it makes
// sense (a node that is NotReady or gone never reports, so its collector is given up on at
// once instead of at spec.timeout).

const (
	// roleControlPlane labels and taints control-plane nodes.
	roleControlPlane = "node-role.kubernetes.io/control-plane"
	// roleMaster is the same role under its name before Kubernetes 1.24, which some
	// clusters still carry.
	roleMaster = "node-role.kubernetes.io/master"

	// collectingNodeIndex indexes the diagnoses that are collecting by the nodes whose
	// collectors have not reported yet, so that a node's trouble finds them.
	collectingNodeIndex = ".status.collectors.collecting"
)

// FlagTolerateControlPlane is the manager's flag that lets collectors run on control-plane
// nodes; refusals name it.
const FlagTolerateControlPlane = "collector-tolerate-control-plane"

// isControlPlane reports whether node carries the control-plane role, as a label or a taint.
func isControlPlane(node *corev1.Node) bool {
	for _, role := range []string{roleControlPlane, roleMaster} {
		if _, ok := node.Labels[role]; ok {
			return true
		}
		for _, t := range node.Spec.Taints {
			if t.Key == role {
				return true
			}
		}
	}
	return false
}

// nodeProblem says why a collector on the node named will never report: NodeGone when the
// node is nil (deleted), NodeNotReady when its Ready condition is False or Unknown. A node
// that has not said whether it is Ready (it has just registered) is waited for.
func nodeProblem(name string, node *corev1.Node) (reason, msg string) {
	if node == nil {
		return diagv1alpha1.ReasonNodeGone, fmt.Sprintf("Node %s is gone: no collector will report from it", name)
	}
	for _, c := range node.Status.Conditions {
		if c.Type != corev1.NodeReady || c.Status == corev1.ConditionTrue {
			continue
		}
		msg = fmt.Sprintf("Node %s is not Ready (%s", name, c.Status)
		if c.Reason != "" {
			msg += ", " + c.Reason
		}
		if c.Message != "" {
			msg += ": " + c.Message
		}
		return diagv1alpha1.ReasonNodeNotReady, msg + "): its collector was given up on"
	}
	return "", ""
}

// nodeReady is the node's Ready condition status, "" when it has none.
func nodeReady(node *corev1.Node) corev1.ConditionStatus {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

// failOnNode marks a collector as failed because of its node.
func failOnNode(c diagv1alpha1.CollectorStatus, reason, msg string) diagv1alpha1.CollectorStatus {
	c.Phase, c.Reason, c.Message = diagv1alpha1.CollectorFailed, reason, truncate(msg, maxMessage)
	return c
}

// collectorTolerations are the taints a collector tolerates. The pod is bound to its node
// by spec.nodeName, past the scheduler, so that NoSchedule taints matter only to policies
// that read tolerations; the kubelet enforces only NoExecute ones. Tolerated: the taints
// the node lifecycle controller puts on a node that is cordoned or under pressure, and
// network-unavailable, since the network may be what is broken: such a node still forwards
// traffic and is often the one to look at. Not tolerated: not-ready and unreachable, so that
// a collector never sits silently on a broken node (the controller gives that node up at
// once anyway): they are listed with no seconds to stay, which evicts at once, since the
// API server's DefaultTolerationSeconds would otherwise grant five minutes. Nor any taint
// the cluster's operators made. The control-plane role's taint only when the manager allows
// collectors there.
func collectorTolerations(controlPlane bool) []corev1.Toleration {
	keys := []string{
		corev1.TaintNodeUnschedulable,
		corev1.TaintNodeNetworkUnavailable,
		corev1.TaintNodeMemoryPressure,
		corev1.TaintNodeDiskPressure,
		corev1.TaintNodePIDPressure,
	}
	if controlPlane {
		keys = append(keys, roleControlPlane, roleMaster)
	}
	out := make([]corev1.Toleration, 0, len(keys)+2)
	for _, k := range keys {
		out = append(out, corev1.Toleration{Key: k, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	}
	for _, k := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
		out = append(out, corev1.Toleration{Key: k, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](0)})
	}
	return out
}

// node reads a node from the cache; nil when it does not exist.
func (r *NetworkDiagnosisReconciler) node(ctx context.Context, name string) (*corev1.Node, error) {
	node := &corev1.Node{}
	if err := r.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read Node %s: %w", name, err)
	}
	return node, nil
}

// controlPlaneRefused names the first control-plane node among nodes when collectors may
// not run there.
func (r *NetworkDiagnosisReconciler) controlPlaneRefused(ctx context.Context, nodes []string) (string, error) {
	if r.TolerateControlPlane {
		return "", nil
	}
	for _, name := range nodes {
		node, err := r.node(ctx, name)
		if err != nil {
			return "", err
		}
		if node != nil && isControlPlane(node) {
			return name, nil
		}
	}
	return "", nil
}

// collectingNodes is the index function of collectingNodeIndex.
func collectingNodes(o client.Object) []string {
	nd, ok := o.(*diagv1alpha1.NetworkDiagnosis)
	if !ok || nd.Status.Phase != diagv1alpha1.PhaseCollecting {
		return nil
	}
	var nodes []string
	for _, c := range nd.Status.Collectors {
		if !final(c) {
			nodes = append(nodes, c.Node)
		}
	}
	return nodes
}

// diagnosesCollectingOn maps a node to the diagnoses waiting for a collector there.
func (r *NetworkDiagnosisReconciler) diagnosesCollectingOn(ctx context.Context, o client.Object) []reconcile.Request {
	list := &diagv1alpha1.NetworkDiagnosisList{}
	if err := r.List(ctx, list, client.MatchingFields{collectingNodeIndex: o.GetName()}); err != nil {
		logf.FromContext(ctx).Error(err, "Cannot find the NetworkDiagnoses collecting on a Node", "node", klog.KObj(o))
		return nil
	}
	return requestsFor(list.Items)
}

// nodeHealthChanged lets through a node's deletion and a change of its Ready condition:
// the events that can end a collector's wait. Heartbeats and other status updates do not.
func nodeHealthChanged() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, okOld := e.ObjectOld.(*corev1.Node)
			n, okNew := e.ObjectNew.(*corev1.Node)
			return okOld && okNew && nodeReady(o) != nodeReady(n)
		},
	}
}

// checkNode fails a collector whose node will never let it report.
func (r *NetworkDiagnosisReconciler) checkNode(ctx context.Context, c diagv1alpha1.CollectorStatus) (diagv1alpha1.CollectorStatus, error) {
	node, err := r.node(ctx, c.Node)
	if err != nil {
		return c, err
	}
	if reason, msg := nodeProblem(c.Node, node); reason != "" {
		return failOnNode(c, reason, msg), nil
	}
	return c, nil
}
