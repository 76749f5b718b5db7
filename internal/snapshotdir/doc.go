// Package snapshotdir reads and writes a snapshot folder for `netdiag diagnose --snapshot`:
// the cluster objects as `kubectl get ... -o yaml` prints them (Lists or single objects, in
// any *.yaml or *.yml file, several documents per file allowed) and one netstack snapshot per
// node (*.json, as `netdiag collect --output` writes it). The same files in a gzip-compressed
// tarball (*.tar.gz, *.tgz) read as the folder does.
package snapshotdir
