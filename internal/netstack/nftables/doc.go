// Package nftables reads a ruleset as `nft -j list ruleset` prints it and evaluates a packet
// through the base chains of a hook in priority order, as the kernel does: matches on
// payload, meta, ct and fib, named and anonymous sets and maps, verdict maps, jumps, gotos
// and returns, mark changes, dnat/snat/masquerade, and `numgen random` maps, whose every
// branch becomes its own outcome (one per service endpoint in kube-proxy's nftables mode).
// An expression it does not understand makes the outcome Unknown where it decides, and
// never a silent match or miss.
package nftables
