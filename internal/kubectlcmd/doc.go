// Package kubectlcmd is `kubectl netdiag`: it asks a question of the netdiag controller from
// the command line (kubectl netdiag pod/web svc/db:5432 -n shop) by creating a
// NetworkDiagnosis, follows it to an answer, prints the report and exits with a code a
// script can branch on; `get` and `describe` read a diagnosis that already exists.
//
// Exit codes: 0 the traffic gets through (Reachable); 1 it does not, or not all of it
// (Unreachable, PartiallyReachable, and any verdict the API may add that is neither a full
// yes nor a don't-know); 2 no answer (Unknown, a Failed diagnosis, one that did not finish in time, an
// interrupted run, bad input or an API error).
package kubectlcmd
