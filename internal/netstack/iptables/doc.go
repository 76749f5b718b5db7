// Package iptables parses rulesets as iptables-save prints them and evaluates a packet
// through them in the kernel's order of tables and chains, simulating NAT, marks and
// conntrack state. A match or target it does not understand is reported, never silently
// treated as a match or a miss.
package iptables
