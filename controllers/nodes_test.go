package controllers

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
)

func TestNodeProblem(t *testing.T) {
	ready := func(status corev1.ConditionStatus, reason, msg string) *corev1.Node {
		return &corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
			{Type: corev1.NodeReady, Status: status, Reason: reason, Message: msg},
		}}}
	}
	cases := map[string]struct {
		node    *corev1.Node
		reason  string
		message string
	}{
		"ready":                {node: ready(corev1.ConditionTrue, "KubeletReady", "")},
		"not said yet":         {node: &corev1.Node{}},
		"gone":                 {reason: diagv1alpha1.ReasonNodeGone, message: "Node n1 is gone"},
		"kubelet says not":     {node: ready(corev1.ConditionFalse, "KubeletNotReady", "container runtime is down"), reason: diagv1alpha1.ReasonNodeNotReady, message: "Node n1 is not Ready (False, KubeletNotReady: container runtime is down)"},
		"kubelet stopped talk": {node: ready(corev1.ConditionUnknown, "NodeStatusUnknown", ""), reason: diagv1alpha1.ReasonNodeNotReady, message: "Node n1 is not Ready (Unknown, NodeStatusUnknown)"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			reason, msg := nodeProblem("n1", tc.node)
			if reason != tc.reason || !strings.Contains(msg, tc.message) {
				t.Errorf("nodeProblem() = %q, %q; want %q with %q", reason, msg, tc.reason, tc.message)
			}
		})
	}
}

func TestIsControlPlane(t *testing.T) {
	cases := map[string]struct {
		node *corev1.Node
		want bool
	}{
		"by label":        {node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}}}, want: true},
		"by taint":        {node: &corev1.Node{Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}}}, want: true},
		"by the old name": {node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"node-role.kubernetes.io/master": ""}}}, want: true},
		"a worker":        {node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"node-role.kubernetes.io/worker": ""}}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := isControlPlane(tc.node); got != tc.want {
				t.Errorf("isControlPlane() = %v, want %v", got, tc.want)
			}
		})
	}
}
