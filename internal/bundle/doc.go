// Package bundle writes and reads support bundles: what the engine read for one diagnosis
// (the node snapshots, the cluster objects it looked up, and the question) as a snapshot
// folder or tarball that `netdiag diagnose --snapshot` reads back to the same answer. It
// records the objects a diagnosis reads (Record), stores a bundle in the ConfigMaps the
// controller keeps (ConfigMaps, Get), and redacts names and addresses (Redact).
package bundle
