// Package statuspath converts the branches of a report (diagnose.ReportBranch) to the
// NetworkDiagnosis status's packet path and back, bounded to the API's limits, so that the
// controller writes them and a client reading the status draws the same text report as
// `netdiag diagnose` (diagnose.WriteBranches).
package statuspath
