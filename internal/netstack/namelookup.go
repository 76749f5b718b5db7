package netstack

import "net/netip"

// NameLookup is what a resolver inside a namespace answered for a name, with the pod's
// resolv.conf: the name of the search path that answered and its addresses, or why none.
type NameLookup struct {
	// Name is the name as asked of the collector.
	Name string `json:"name"`
	// Answered is the name of the search path that answered, or the last asked.
	Answered string       `json:"answered,omitempty"`
	Addrs    []netip.Addr `json:"addrs,omitempty"`
	// Server is the nameserver that answered.
	Server netip.Addr `json:"server,omitzero"`
	// Asked are the names asked, in order.
	Asked []string `json:"asked,omitempty"`
	// Err says why no address came.
	Err string `json:"error,omitempty"`
}
