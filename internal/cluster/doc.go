// Package cluster holds the cluster snapshot (the Kubernetes objects the engine reads),
// resolves the endpoints a diagnosis names, maps addresses to what owns them (IPCache), and
// detects the network plugin from the DaemonSets.
package cluster
