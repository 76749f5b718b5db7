// Package iptables parses rulesets as iptables-save prints them and evaluates a packet
// through them in the kernel's order of tables and chains, simulating NAT, marks and
// conntrack state. A match or target it does not understand is reported, never silently
// treated as a match or a miss.
//
// Parse reads every table (raw, mangle, nat, filter, security), the chain policies and
// counters, and each rule into its Header (-s, -d, -i, -o, -p, -f), its Matches (one per
// -m module, typed: L4Match, MultiportMatch, ConntrackMatch, MarkMatch, SetMatch,
// AddrTypeMatch, StatisticMatch, PhysDevMatch, ...) and its Target (VerdictTarget,
// JumpTarget, RejectTarget, NATTarget, MarkTarget, ContinueTarget). What it does not know
// becomes an UnknownMatch or UnknownTarget keeping its text, and the rest of the ruleset is
// unaffected.
//
// (*Ruleset).Traverse(hook, packet, env) walks one hook (an nf.Hook, with an nf.Packet):
// the tables in priority order
// (raw, mangle, nat for a connection's first packet only, filter, security), each from the
// hook's built-in chain through jumps, gotos and RETURNs to a verdict or the policy. It
// returns one nf.Outcome per way through, in the vocabulary nftables and netfilter share: a statistic rule forks the walk, so kube-proxy's
// service chain gives one outcome per endpoint with its probability. Each outcome carries
// the verdict (Accept, Drop, Reject, Unknown), the packet as rewritten (addresses, ports,
// mark, connection state and mark), the NAT applied, and the trace of every rule that
// matched with its table, chain, saved text and counters. An Unknown outcome names the rule
// whose unknown term decided (Undecided). The walk is bounded (Env.MaxSteps, MaxDepth,
// MaxOutcomes).
//
// A caller follows a packet across hooks by passing an outcome's Packet to the next hook,
// after its own routing decision (set Packet.Out, Packet.NextHop). nf.Packet.Reply gives the
// reply; at the nat stage conntrack reverses the connection's NAT for it, as the kernel
// does. Env says what else the rules read: the local and broadcast addresses (addrtype),
// the interfaces' addresses (MASQUERADE, REDIRECT), the ipsets (set); EnvFromNetstack
// builds it from a snapshot.
//
// The evaluator follows the kernel where the difference shows: the raw table runs before
// conntrack (a packet there has no connection, its state reads INVALID), the nat table is
// consulted once per connection and direction, a namespace whose rules need no connection
// tracking has none (and then no NAT), and ctstate DNAT/SNAT hold only when the NAT changed
// the tuple. The differential test (kernel_test.go) checks it against the kernel with real
// packets.
package iptables
