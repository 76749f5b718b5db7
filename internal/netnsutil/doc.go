// Package netnsutil runs code inside another network namespace, and gives a new namespace
// the kernel's own sysctl defaults instead of the root namespace's. The collector, the lab
// and the tests that build namespaces all need the same careful dance with locked OS
// threads, so it lives here once.
package netnsutil
