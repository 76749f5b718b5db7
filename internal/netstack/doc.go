// Package netstack holds one network namespace's state as the collector reads it (links,
// addresses, routes and policy rules, neighbours and fdb, sysctls, iptables, nftables,
// ipsets, ipvs, listening sockets) in the versioned snapshot format, and the pure functions
// that reason about it: route lookup with policy rules, the rule evaluators, and the
// assertions.
package netstack
