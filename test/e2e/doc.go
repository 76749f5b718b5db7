// Package e2e holds netdiag's end-to-end suite: Ginkgo specs that bring the lab (test/lab) up
// in each of its data-plane modes, run the real controller (`netdiag manager`) against it,
// create NetworkDiagnosis objects through the API, let the real collectors run in the lab's
// nodes, and compare every verdict with what real packets did. The lab is the truth: each
// spec probes the path first, then checks that the diagnosis agrees and names the fault.
//
// The suite needs root (network namespaces, iptables) and the binaries the hack/ scripts
// build; without them it skips and says which are missing. `make e2e` runs it alone,
// `make test` runs it with everything else.
package e2e
