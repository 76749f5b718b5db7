// Package shipped reads what the repository ships for a cluster, for the suites that judge
// it on a real API server: the objects a config/ folder's kustomization lists, and where the
// control-plane binaries the suites run are.
package shipped
