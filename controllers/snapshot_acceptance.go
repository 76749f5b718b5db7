package controllers

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/transport"
)

// A snapshot is trusted only from the collector pod the controller created for that node
// and diagnosis: a ConfigMap in the controller's namespace may be written by others (any
// collector, before the admission policy is installed, or anyone allowed to), and a forged
// node snapshot would steer the answer. The collector sets an owner reference to its own
// pod on every chunk; the controller checks name and UID against the pod it created.

// DefaultConcurrentDecodes bounds the snapshots decoded at once when the manager does not
// say: each may cost up to about twice the limits' decoded size.
const DefaultConcurrentDecodes = 2

// semaphore bounds work done at once across reconciles; a nil one bounds nothing.
type semaphore chan struct{}

func (s semaphore) acquire(ctx context.Context) error {
	if s == nil {
		return nil
	}
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait to decode a snapshot: %w", ctx.Err())
	}
}

func (s semaphore) release() {
	if s != nil {
		<-s
	}
}

// nodeChunks is what the controller found of one node's snapshot ConfigMaps.
type nodeChunks struct {
	// accepted are the chunks the node's collector pod wrote.
	accepted []corev1.ConfigMap
	// refused says, for every other chunk, why it was not taken.
	refused []string
}

// snapshotChunks returns, by node, the current generation's snapshot ConfigMaps (those whose
// name carries the node's snapshot prefix), split into the ones the node's collector pod
// wrote and the refused. pods are the collector pods by node.
func (r *NetworkDiagnosisReconciler) snapshotChunks(ctx context.Context, c client.Reader, nd *diagv1alpha1.NetworkDiagnosis, pods map[string]*corev1.Pod) (map[string]nodeChunks, error) {
	list := &corev1.ConfigMapList{}
	sel := childLabels(nd)
	sel[transport.LabelComponent] = transport.ComponentSnapshot
	if err := c.List(ctx, list, client.InNamespace(r.Namespace), client.MatchingLabels(sel)); err != nil {
		return nil, fmt.Errorf("list snapshot ConfigMaps of NetworkDiagnosis %s: %w", klog.KObj(nd), err)
	}
	out := map[string]nodeChunks{}
	for _, col := range nd.Status.Collectors {
		prefix := snapshotPrefix(nd, col.Node) + "-"
		var chunks nodeChunks
		for i := range list.Items {
			cm := &list.Items[i]
			if !strings.HasPrefix(cm.Name, prefix) {
				continue
			}
			if why := refusal(cm, col.Pod, pods[col.Node]); why != "" {
				chunks.refused = append(chunks.refused, why)
				continue
			}
			chunks.accepted = append(chunks.accepted, *cm)
		}
		if len(chunks.refused) > 0 {
			logf.FromContext(ctx).V(1).Info("Refused snapshot ConfigMaps from an unexpected writer", "node", col.Node, "refused", chunks.refused)
		}
		out[col.Node] = chunks
	}
	return out, nil
}

// refusal says why cm is not the work of the collector pod named podName (pod, nil when it
// does not exist), or "" when it is: cm's only owner is that very pod, by name and UID.
func refusal(cm *corev1.ConfigMap, podName string, pod *corev1.Pod) string {
	var owners []string
	for _, o := range cm.OwnerReferences {
		if o.APIVersion != "v1" || o.Kind != "Pod" {
			owners = append(owners, o.Kind+" "+o.Name)
			continue
		}
		switch {
		case o.Name != podName:
			owners = append(owners, "Pod "+o.Name)
		case pod == nil || pod.Name != podName:
			return fmt.Sprintf("ConfigMap %s is owned by Pod %s, which does not exist", cm.Name, podName)
		case o.UID != pod.UID:
			return fmt.Sprintf("ConfigMap %s is owned by an earlier Pod %s (uid %s), not the current one (uid %s)", cm.Name, podName, o.UID, pod.UID)
		}
	}
	switch {
	case len(owners) > 0:
		return fmt.Sprintf("ConfigMap %s is owned by %s, not by the collector Pod %s", cm.Name, strings.Join(owners, ", "), podName)
	case len(cm.OwnerReferences) == 0:
		return fmt.Sprintf("ConfigMap %s has no owner, not the collector Pod %s", cm.Name, podName)
	}
	return ""
}

// refusedMessage sums up the refused chunks of a node for its collector's status.
func refusedMessage(refused []string) string {
	if len(refused) == 0 {
		return ""
	}
	return fmt.Sprintf("Refused %d snapshot ConfigMaps from an unexpected writer (%s)", len(refused), refused[0])
}

// decode reads a node's snapshot from the chunks its collector wrote, keeping it for the
// engine. Decodes wait for one of the reconciler's slots, so that the workers together
// hold no more than that many snapshots being decoded.
func (r *NetworkDiagnosisReconciler) decode(ctx context.Context, s *scope, node string, chunks nodeChunks) (snapshotState, error) {
	state := snapshotState{Refused: refusedMessage(chunks.refused)}
	if len(chunks.accepted) == 0 {
		return state, nil
	}
	if err := r.decodes.acquire(ctx); err != nil {
		return state, err
	}
	snap, complete, err := r.SnapshotLimits.Decode(chunks.accepted)
	r.decodes.release()
	switch {
	case err != nil:
		state.Err = err
		return state, nil
	case !complete:
		return state, nil
	case snap.Node != node:
		state.Err = fmt.Errorf("snapshot is of node %q", snap.Node)
		return state, nil
	}
	if s.nodeSnapshots == nil {
		s.nodeSnapshots = map[string]*netstack.NodeSnapshot{}
	}
	s.nodeSnapshots[node] = snap
	state.Complete = true
	return state, nil
}

// collected returns the snapshots of the nodes that reported, decoding those an earlier
// reconcile saw complete.
func (r *NetworkDiagnosisReconciler) collected(ctx context.Context, s *scope) (map[string]*netstack.NodeSnapshot, error) {
	var pods map[string]*corev1.Pod
	var chunks, live map[string]nodeChunks
	out := map[string]*netstack.NodeSnapshot{}
	for _, c := range s.nd.Status.Collectors {
		if c.Phase != diagv1alpha1.CollectorCollected {
			continue
		}
		if snap := s.nodeSnapshots[c.Node]; snap != nil {
			out[c.Node] = snap
			continue
		}
		if chunks == nil {
			var err error
			if pods, err = r.collectorPods(ctx, r.Client, s.nd); err != nil {
				return nil, err
			}
			if chunks, err = r.snapshotChunks(ctx, r.Client, s.nd, pods); err != nil {
				return nil, err
			}
		}
		state, err := r.decode(ctx, s, c.Node, chunks[c.Node])
		if err != nil {
			return nil, err
		}
		if !state.Complete && live == nil {
			// A collector may have been seen complete by a read past the cache, which
			// still lags behind.
			if live, err = r.snapshotChunks(ctx, r.APIReader, s.nd, pods); err != nil {
				return nil, err
			}
			if state, err = r.decode(ctx, s, c.Node, live[c.Node]); err != nil {
				return nil, err
			}
		}
		if state.Complete {
			out[c.Node] = s.nodeSnapshots[c.Node]
		} else {
			// The engine reports a missing node as a suspicion; the answer goes on.
			logf.FromContext(ctx).Info("Snapshot of a collected node is gone", "node", c.Node, "err", state.Err)
		}
	}
	return out, nil
}
