package model

import "fmt"

// Step is one thing a NetNode did with the packet, in order: the explanation of the path is
// an output, not a log line. Component is what acted (interface, netfilter, route, rp_filter,
// neighbour, fdb, vxlan, bridge, policy, service, socket), Action what it did (accept, drop,
// DNAT, lookup, ...), Detail the rule, route or entry that decided, and Packet the packet
// after the step (translated addresses show here).
type Step struct {
	NodeID    string
	Component string
	Action    string
	Detail    string
	Packet    Packet
	// Share is the part of new connections (0 to 1) a load-balancing step sends this way:
	// kube-proxy's probability, or 1/n for a proxy that balances evenly. Zero on a step that
	// does not fork the packet.
	Share float64
}

func (s Step) String() string {
	if s.Detail == "" {
		return fmt.Sprintf("%s: %s %s [%s]", s.NodeID, s.Component, s.Action, s.Packet)
	}
	return fmt.Sprintf("%s: %s %s: %s [%s]", s.NodeID, s.Component, s.Action, s.Detail, s.Packet)
}

// Forks reports whether the step chose one of several ways for the packet (a service's DNAT
// to one endpoint), with Share the part of new connections that take it.
func (s Step) Forks() bool { return s.Share > 0 }
