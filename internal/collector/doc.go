// Package collector is what `netdiag collect` does on a node: it reads the real network state
// of the node's namespace and of the pod namespaces a diagnosis needs there (netlink, /proc,
// iptables-save, nft, ipset, ipvs), optionally sends a real probe from the source, and hands
// the result over as a netstack.NodeSnapshot, written to a file or uploaded through the API
// server as ConfigMaps.
//
// It is the only part of netdiag that reads kernel state; everything else works on the
// snapshot. One part that cannot be read (a missing tool, a namespace gone) is recorded as a
// netstack.PartError and never fails the whole collection.
package collector
