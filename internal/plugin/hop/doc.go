// Package hop follows one packet through one NetNode's real state, as a pipeline of stages
// in the kernel's order: receive (the interface, a tunnel's outer header, the bridge), the
// netfilter hooks with NAT and conntrack, routing with policy rules, local delivery and the
// reply, and egress by the kind of device the route leaves by (veth, bridge, vxlan, a plain
// link, and the kinds a plugin registers, such as calico's ipip), with the neighbour and
// fdb resolution each kind needs.
//
// Each stage ends a branch or lets it go on (Continue, Drop, Deliver, Emit). A plugin
// extends the pipeline through Extensions: device kinds, checks on what leaves, and
// explainers the shared stages call to name a drop in the plugin's own words. It never
// edits a result afterwards.
//
// Package plugin keeps the author-facing names (Plugin, SimplePluginNode, BasePluginNode);
// this package holds what both it and the stages need.
package hop
