package plugin

import "github.com/netdiag/netdiag/internal/plugin/hop"

// SimplePluginNode is what a plugin says about one NetNode: where it intends a packet to go
// next, with the checks only the plugin knows (the MTU its tunnel needs, the masquerade it
// installs), and what it checks when the packet arrives at its destination. BasePluginNode
// does the hop from the real state and calls these to compare.
//
// Each To* method returns the plugin's intent for the packet in h (already translated by
// the NAT on this NetNode), or nil when the plugin has no opinion; it records what it finds
// with h.Suspect and h.Step.
type SimplePluginNode = hop.Intents
