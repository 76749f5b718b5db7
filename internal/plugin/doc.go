// Package plugin holds the extension points a network plugin implements.
//
// A Plugin makes a NetNodeAction for every pod and node the packet reaches (CreatePod,
// CreateNode). Most plugins only say where they intend a packet to go and what they expect on
// the way: they implement SimplePluginNode (ToPod, ToHost, ToService, ToExternal, Serve) and
// wrap it in a BasePluginNode, which runs the staged hop of package plugin/hop from the
// snapshot: interface state, netfilter hooks with NAT, policy routing, forwarding and
// rp_filter, neighbours, the bridge, the vxlan fdb. Where the data plane sends the packet
// somewhere the plugin did not intend, the hop reports PathDiverges with both places, and
// always follows the data plane. A plugin adds to the hop through BasePluginNode.Ext (its
// device kinds, its checks on what leaves, its explainers), never by editing a result.
//
// VethPod is the ready pod of every veth-based plugin; package plugin/flannel is the first
// real plugin, plugin/calico the one that extends the hop. A plugin registers its flags with
// a ConfigBinder.
package plugin
