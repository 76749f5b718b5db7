// Package metrics holds the controller's own Prometheus metrics: how diagnoses end, how long
// each of their phases takes, what the collectors cost and how they fail. The reconciler owns
// one Metrics; the manager registers it once with controller-runtime's registry, and tests
// register theirs with a registry of their own.
package metrics
