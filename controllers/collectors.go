package controllers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
)

// createCollectors creates the collector pods of nodes in parallel. A pod that already
// exists (a requeue, a restarted controller) is the one this run wants: the name says so.
func (r *NetworkDiagnosisReconciler) createCollectors(ctx context.Context, s *scope, nodes []string, left time.Duration) error {
	plan, q, err := r.plan(ctx, s)
	if err != nil {
		return err
	}
	cfg := collectorConfig{Image: r.CollectorImage, Namespace: r.Namespace, PriorityClassName: r.CollectorPriorityClass, TolerateControlPlane: r.TolerateControlPlane}
	if !r.CollectorAPIViaService {
		cfg.APIServerArgs = apiServerArgs(cacheObjects{ctx: ctx, c: r.Client}.EndpointSlicesOf(metav1.NamespaceDefault, "kubernetes"))
	}
	// The pod must not outlive the diagnosis it works for.
	activeDeadline := max(int64(math.Ceil(left.Seconds())), 1)
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, node := range nodes {
		var probe []string
		if s.nd.Spec.Probe && node == q.Source.Node {
			probe = probeArgs(q)
		}
		if node == q.Source.Node {
			probe = append(probe, lookupArgs(s, q)...)
		}
		pod := collectorPod(cfg, s.nd, node, plan.Pods[node], probe, activeDeadline)
		wg.Go(func() {
			if err := r.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
				errs[i] = fmt.Errorf("create collector Pod %s for node %s: %w", klog.KObj(pod), node, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		// Retried, with backoff, until the timeout; meanwhile the status says why the pod
		// is missing (a PriorityClass or quota the namespace lacks), not only the log.
		for i, node := range nodes {
			if errs[i] == nil {
				continue
			}
			for j := range s.nd.Status.Collectors {
				if c := &s.nd.Status.Collectors[j]; c.Node == node {
					c.Message = truncate("Collector pod cannot be created: "+errs[i].Error(), maxMessage)
				}
			}
		}
		return err
	}
	logf.FromContext(ctx).V(1).Info("Created collector Pods", "nodes", nodes)
	return nil
}

// stale reports whether the API server holds a newer NetworkDiagnosis than the one this
// reconcile started from.
func (r *NetworkDiagnosisReconciler) stale(ctx context.Context, s *scope) (bool, error) {
	live := &diagv1alpha1.NetworkDiagnosis{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(s.nd), live); err != nil {
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, fmt.Errorf("read NetworkDiagnosis %s: %w", klog.KObj(s.nd), err)
	}
	if live.ResourceVersion != s.before.ResourceVersion {
		logf.FromContext(ctx).V(2).Info("NetworkDiagnosis in the cache is stale, waiting for it")
		return true, nil
	}
	return false, nil
}
