// Package nftables reads a ruleset as `nft -j list ruleset` prints it and evaluates a packet
// through the base chains of a hook in priority order, as the kernel does: matches on
// payload, meta, ct and fib, named and anonymous sets and maps, verdict maps, jumps, gotos
// and returns, mark changes, dnat/snat/masquerade, and `numgen random` maps, whose every
// branch becomes its own outcome (one per service endpoint in kube-proxy's nftables mode).
//
// Parse compiles every rule of the tables it walks (families ip and inet) into typed
// statements and expressions, with set elements and verdict maps read once and jumps bound
// to their chains, so a packet's walk reads no JSON. An expression it does not understand is
// found then, once: the rule keeps its name (Rule.NotUnderstood, listed by
// Ruleset.NotUnderstood) and the compiled rule holds a marker in its place. As in package
// iptables, a packet that reaches the marker is Unknown where the rule could decide (a known
// miss among the rule's other matches still misses, and a rule that could only count is
// passed and noted in Outcome.Uncertain): never a silent match or miss.
package nftables
