package netstack

import (
	"net/netip"
	"time"
)

// Version is the snapshot format this package reads and writes. A snapshot of another
// version is refused with an error that names both.
const Version = "netstack.netdiag.dev/v1"

// NodeSnapshot is everything one collector gathers on one node: the node's own namespace and
// the namespaces of the pods the diagnosis needs there. It is the unit the collector uploads
// and `netdiag collect --output` writes.
type NodeSnapshot struct {
	Version     string     `json:"version"`
	Node        string     `json:"node"`
	CollectedAt time.Time  `json:"collectedAt"`
	Host        Netstack   `json:"host"`
	Pods        []Netstack `json:"pods,omitempty"`
	// Probe is the outcome of a real connection attempt from the source, when asked for.
	Probe *ProbeResult `json:"probe,omitempty"`
	// Lookup is what the source's own resolver answered for the destination's name, when
	// asked for.
	Lookup *NameLookup `json:"lookup,omitempty"`
}

// PodRef names the pod a namespace belongs to.
type PodRef struct {
	Namespace string     `json:"namespace"`
	Name      string     `json:"name"`
	IP        netip.Addr `json:"ip"`
}

// Netstack is one network namespace's state.
type Netstack struct {
	// Pod is set for a pod's namespace, nil for the node's.
	Pod *PodRef `json:"pod,omitempty"`
	// NetNS is where the collector found the namespace (a path), for the record.
	NetNS string `json:"netns,omitempty"`

	Interfaces []Interface `json:"interfaces,omitempty"`
	Routes     []Route     `json:"routes,omitempty"`
	Rules      []Rule      `json:"rules,omitempty"`
	Neighbours []Neighbour `json:"neighbours,omitempty"`
	FDB        []FDBEntry  `json:"fdb,omitempty"`
	// Sysctls holds values under /proc/sys/net keyed by their path below it, e.g.
	// "ipv4/ip_forward", "ipv4/conf/eth0/rp_filter", "bridge/bridge-nf-call-iptables".
	Sysctls map[string]string `json:"sysctls,omitempty"`

	// IPTables is the IPv4 ruleset exactly as iptables-save prints it, with counters (-c).
	IPTables string `json:"iptables,omitempty"`
	// IPTablesBackend is "nft" or "legacy": the backend that holds the rules.
	IPTablesBackend string `json:"iptablesBackend,omitempty"`
	// NFTables is the ruleset as `nft -j list ruleset` prints it.
	NFTables string `json:"nftables,omitempty"`
	// Digests identify IPTables and NFTables by content. The collector writes them, so that
	// whoever reads many snapshots finds the rules it has parsed already (kube-proxy writes
	// nearly the same rules on every node) without reading each whole text again.
	Digests *RulesetDigests `json:"digests,omitempty"`
	// IPSets is the output of `ipset save`.
	IPSets string        `json:"ipsets,omitempty"`
	IPVS   []IPVSService `json:"ipvs,omitempty"`
	// Recent holds the addresses on the lists of iptables' recent match
	// (/proc/net/xt_recent), on which kube-proxy keeps the clients of a Service with
	// ClientIP session affinity, one list per endpoint.
	Recent []RecentEntry `json:"recent,omitempty"`

	// Listening holds the TCP and UDP sockets in LISTEN (TCP) or bound (UDP) state.
	Listening []Socket `json:"listening,omitempty"`

	// Errors records the parts that could not be read; the engine turns each into a
	// suspicion instead of trusting an empty part.
	Errors []PartError `json:"errors,omitempty"`

	// index is the route index Index built, for the Routes and Rules it was built from.
	index *routeIndex
}

// Interface is a network link with its addresses.
type Interface struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
	// Kind is the link type as netlink names it: device, veth, bridge, vxlan, ipip,
	// loopback, tun, dummy, ...
	Kind string `json:"kind"`
	MTU  int    `json:"mtu"`
	Up   bool   `json:"up"`
	// OperState is the RFC 2863 state: up, down, lowerlayerdown, unknown, ...
	OperState    string         `json:"operState,omitempty"`
	HardwareAddr string         `json:"mac,omitempty"`
	Addresses    []netip.Prefix `json:"addresses,omitempty"`
	// Master is the bridge (or bond, vrf) the link is enslaved to.
	Master string `json:"master,omitempty"`
	// Hairpin is a bridge port's hairpin mode (frames may leave by the port they came in
	// by); nil when the link is no bridge port or the mode was not read.
	Hairpin *bool `json:"hairpin,omitempty"`
	// Promisc, NoARP, ... are not needed by the engine and left out.

	Veth   *VethAttrs   `json:"veth,omitempty"`
	VXLAN  *VXLANAttrs  `json:"vxlan,omitempty"`
	IPIP   *TunnelAttrs `json:"ipip,omitempty"`
	Bridge *BridgeAttrs `json:"bridge,omitempty"`
}

// VethAttrs are a veth's own attributes.
type VethAttrs struct {
	// PeerIndex is the ifindex of the peer, in the peer's namespace.
	PeerIndex int `json:"peerIndex,omitempty"`
	// PeerNetNSID is the peer namespace's id as seen from this one; -1 when same.
	PeerNetNSID int `json:"peerNetnsID,omitempty"`
}

// VXLANAttrs are a vxlan device's attributes.
type VXLANAttrs struct {
	VNI   int        `json:"vni"`
	Port  int        `json:"port"`
	Local netip.Addr `json:"local,omitzero"`
	Group netip.Addr `json:"group,omitzero"`
	// Device is the underlay link the encapsulated packets leave by.
	Device   string `json:"device,omitempty"`
	Learning bool   `json:"learning,omitempty"`
}

// TunnelAttrs are an ipip tunnel's attributes.
type TunnelAttrs struct {
	Local  netip.Addr `json:"local,omitzero"`
	Remote netip.Addr `json:"remote,omitzero"`
	Device string     `json:"device,omitempty"`
}

// BridgeAttrs are a bridge's attributes.
type BridgeAttrs struct {
	VLANFiltering bool `json:"vlanFiltering,omitempty"`
}

// Route types as the kernel names them.
const (
	RouteUnicast     = "unicast"
	RouteLocal       = "local"
	RouteBroadcast   = "broadcast"
	RouteBlackhole   = "blackhole"
	RouteUnreachable = "unreachable"
	RouteProhibit    = "prohibit"
	RouteThrow       = "throw"
)

// Well-known routing tables.
const (
	TableLocal   = 255
	TableMain    = 254
	TableDefault = 253
)

// Route is one route of any table.
type Route struct {
	Table int    `json:"table"`
	Type  string `json:"type"`
	// Dst is the destination prefix; 0.0.0.0/0 for a default route.
	Dst     netip.Prefix `json:"dst"`
	Gateway netip.Addr   `json:"gateway,omitzero"`
	// Device is the output interface's name.
	Device string     `json:"dev,omitempty"`
	Src    netip.Addr `json:"src,omitzero"`
	// Scope is global, link, host (or a number).
	Scope    string `json:"scope,omitempty"`
	Metric   int    `json:"metric,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	OnLink   bool   `json:"onlink,omitempty"`
	MTU      int    `json:"mtu,omitempty"`
	// Flags are the kernel's next-hop flags as `ip route` prints them: "linkdown" (the
	// device has no carrier), "dead" (the device is down), "onlink", ...
	Flags []string `json:"flags,omitempty"`
	// NextHops are the paths of a multipath route; Gateway and Device are then empty.
	NextHops []NextHop `json:"nexthops,omitempty"`
}

// NextHop is one path of a multipath route.
type NextHop struct {
	Gateway netip.Addr `json:"gateway,omitzero"`
	Device  string     `json:"dev,omitempty"`
	Weight  int        `json:"weight,omitempty"`
	OnLink  bool       `json:"onlink,omitempty"`
	// Flags are the next hop's own flags, as for Route.Flags.
	Flags []string `json:"flags,omitempty"`
}

// Rule actions.
const (
	RuleToTable     = "lookup"
	RuleGoto        = "goto"
	RuleNop         = "nop"
	RuleBlackhole   = "blackhole"
	RuleUnreachable = "unreachable"
	RuleProhibit    = "prohibit"
)

// Rule is one policy routing rule (`ip rule`).
type Rule struct {
	// Family is "inet" or "inet6"; empty means inet.
	Family   string       `json:"family,omitempty"`
	Priority int          `json:"priority"`
	Invert   bool         `json:"not,omitempty"`
	Src      netip.Prefix `json:"src,omitzero"`
	Dst      netip.Prefix `json:"dst,omitzero"`
	IIF      string       `json:"iif,omitempty"`
	OIF      string       `json:"oif,omitempty"`
	// Mark and Mask match the fwmark; Mask zero with Mark set means 0xffffffff.
	Mark uint32 `json:"fwmark,omitempty"`
	Mask uint32 `json:"fwmask,omitempty"`
	TOS  uint8  `json:"tos,omitempty"`
	// IPProto, SPort and DPort match the L4 header (0 is any).
	IPProto    int    `json:"ipproto,omitempty"`
	DPortStart int    `json:"dportStart,omitempty"`
	DPortEnd   int    `json:"dportEnd,omitempty"`
	SPortStart int    `json:"sportStart,omitempty"`
	SPortEnd   int    `json:"sportEnd,omitempty"`
	Action     string `json:"action"`
	// Table is the table to look up for RuleToTable.
	Table int `json:"table,omitempty"`
	// Goto is the priority to jump to for RuleGoto.
	Goto int `json:"goto,omitempty"`
	// SuppressPrefixLength rejects a lookup result whose prefix is this long or shorter;
	// nil is unset (0 is the common "suppress_prefixlength 0": ignore default routes).
	SuppressPrefixLength *int `json:"suppressPrefixLength,omitempty"`
}

// Neighbour is an ARP/NDP entry.
type Neighbour struct {
	Device       string     `json:"dev"`
	IP           netip.Addr `json:"ip"`
	HardwareAddr string     `json:"mac,omitempty"`
	// State is PERMANENT, REACHABLE, STALE, FAILED, INCOMPLETE, NOARP, ...
	State string `json:"state"`
}

// FDBEntry is a bridge or vxlan forwarding database entry.
type FDBEntry struct {
	Device       string `json:"dev"`
	HardwareAddr string `json:"mac"`
	// Dst is the remote VTEP for a vxlan entry.
	Dst    netip.Addr `json:"dst,omitzero"`
	Master string     `json:"master,omitempty"`
	VLAN   int        `json:"vlan,omitempty"`
	State  string     `json:"state,omitempty"`
}

// RecentEntry is one address on a recent-match list.
type RecentEntry struct {
	// List is the list's name (--name), for kube-proxy the endpoint's KUBE-SEP chain.
	List string     `json:"list"`
	Addr netip.Addr `json:"addr"`
	// SeenSecondsAgo is how long before the collection the address last matched --set or
	// --update: a rule with --seconds N matches it only while that is less than N.
	SeenSecondsAgo float64 `json:"seenSecondsAgo"`
}

// IPVSService is an ipvs virtual service with its real servers.
type IPVSService struct {
	Protocol     string            `json:"protocol"`
	Address      netip.AddrPort    `json:"address"`
	FWMark       uint32            `json:"fwmark,omitempty"`
	Scheduler    string            `json:"scheduler"`
	Destinations []IPVSDestination `json:"destinations,omitempty"`
}

// IPVSDestination is one real server of an ipvs service.
type IPVSDestination struct {
	Address netip.AddrPort `json:"address"`
	Weight  int            `json:"weight"`
	// Forward is masq, route (direct), tunnel.
	Forward string `json:"forward,omitempty"`
}

// Socket is a listening socket.
type Socket struct {
	Protocol string         `json:"protocol"` // TCP or UDP
	Address  netip.AddrPort `json:"address"`
}

// PartError records a part of the state that could not be read.
type PartError struct {
	// Part is the part's name: links, routes, rules, neighbours, fdb, sysctls, iptables,
	// nftables, ipsets, ipvs, listening, netns.
	Part  string `json:"part"`
	Error string `json:"error"`
}

// ProbeResult is what a real connection attempt observed.
type ProbeResult struct {
	Reachable bool   `json:"reachable"`
	Message   string `json:"message"`
	// Inconclusive is set when the attempt tells neither way: it could not be sent, or a
	// UDP datagram met silence (a server that does not answer looks like a silent drop).
	// Reachable is then false, and the engine does not weigh it against its verdict.
	Inconclusive bool `json:"inconclusive,omitempty"`
}
