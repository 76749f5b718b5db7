// Package netfilter evaluates a packet through everything a network namespace registers on
// a netfilter hook: iptables' tables (as iptables-save prints them, evaluated by package
// iptables) and nftables' base chains (as `nft -j list ruleset` prints them, evaluated by
// package nftables). The kernel runs them in one order, by priority, so they are walked
// stage by stage in that order: iptables raw (-300) and mangle (-150), an nftables chain at
// -110, the nat stage (-100 for the destination, 100 for the source) where iptables' nat table
// and every nftables nat chain run together until one of them binds the connection, filter
// chains of both at 0, security at 50. At one priority the hook registered last runs first
// (nf_hook_entries_grow inserts a new hook before its equals); the nftables listing keeps the
// order tables were made in, iptables-nft's among them. The packet and its connection are carried from stage
// to stage, every fork of one stage runs through the next (branches multiply), and an outcome
// names the ruleset whose stage decided it. Both evaluators speak package nf's vocabulary, so
// an outcome is the same nf.Outcome a stage returned, continued (nf.Outcome.Then) through
// the next.
package netfilter
