// Package cluster holds the cluster snapshot (the Kubernetes objects the engine reads) and
// the lookups by key the engine finds them through (Objects), which the snapshot answers from
// its own lists or from a source such as the controller's informer cache; it resolves the
// endpoints a diagnosis names, maps addresses to what owns them (IPCache), and detects the
// network plugin from the DaemonSets.
package cluster
