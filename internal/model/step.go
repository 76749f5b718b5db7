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
}

func (s Step) String() string {
	if s.Detail == "" {
		return fmt.Sprintf("%s: %s %s [%s]", s.NodeID, s.Component, s.Action, s.Packet)
	}
	return fmt.Sprintf("%s: %s %s: %s [%s]", s.NodeID, s.Component, s.Action, s.Detail, s.Packet)
}
