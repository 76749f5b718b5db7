// Package nf is the vocabulary every netfilter evaluator speaks: the packet as a hook sees
// it (Packet, with its connection Conn), the hooks, the verdicts, and the Outcome of one way
// through a hook with its Trace of Steps and its NAT. Package iptables and package nftables
// evaluate an nf.Packet and return nf.Outcomes; package netfilter orders both rulesets'
// stages on a hook and returns the same Outcomes, so a caller reads one type whichever
// ruleset decided. A rule of either ruleset is an nf.Rule: its ruleset, its place and its
// text.
package nf
