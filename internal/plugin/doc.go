// Package plugin holds the extension points a network plugin implements, and the machinery
// that follows a packet through one NetNode's real state.
//
// A Plugin makes a NetNodeAction for every pod and node the packet reaches (CreatePod,
// CreateNode). Most plugins only say where they intend a packet to go and what they expect on
// the way: they implement SimplePluginNode (ToPod, ToHost, ToService, ToExternal, Serve) and
// wrap it in a BasePluginNode, which does the hop itself from the snapshot: interface state,
// netfilter hooks with NAT, policy routing, forwarding and rp_filter, neighbours, the bridge,
// the vxlan fdb. Where the data plane sends the packet somewhere the plugin did not intend,
// BasePluginNode reports PathDiverges with both places, and always follows the data plane.
//
// VethPod is the ready pod of every veth-based plugin; package plugin/flannel is the first
// real plugin. A plugin registers its flags with a ConfigBinder.
package plugin
