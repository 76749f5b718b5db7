package model

// Reason codes. Every code is declared once in Reasons with its levels and what to do, and
// docs/suspicions.md is written from those declarations; a code, once released, is never
// renamed.
const (
	// Endpoints and the snapshot.
	ReasonSnapshotMissing   Reason = "SnapshotMissing"
	ReasonSnapshotPartError Reason = "SnapshotPartError"
	ReasonPodNotRunning     Reason = "PodNotRunning"
	ReasonNodeNotReady      Reason = "NodeNotReady"

	// Interfaces and links.
	ReasonInterfaceMissing Reason = "InterfaceMissing"
	ReasonInterfaceDown    Reason = "InterfaceDown"
	ReasonMTUMismatch      Reason = "MTUMismatch"
	ReasonPacketTooBig     Reason = "PacketTooBig"

	// Routing.
	ReasonRouteMissing      Reason = "RouteMissing"
	ReasonRouteBlackhole    Reason = "RouteBlackhole"
	ReasonRouteUnreachable  Reason = "RouteUnreachable"
	ReasonRouteWrongNode    Reason = "RouteWrongNode"
	ReasonRoutingLoop       Reason = "RoutingLoop"
	ReasonIPForwardDisabled Reason = "IPForwardDisabled"
	ReasonRPFilterDrop      Reason = "RPFilterDrop"
	ReasonNeighbourMissing  Reason = "NeighbourMissing"
	ReasonFDBMissing        Reason = "FDBMissing"
	ReasonHopLimitExceeded  Reason = "HopLimitExceeded"
	ReasonRouteProhibited   Reason = "RouteProhibited"
	ReasonMartianPacket     Reason = "MartianPacket"
	ReasonFDBWrongRemote    Reason = "FDBWrongRemote"
	// ReasonProxyARPDisabled: the host end of a pod's veth does not answer ARP for the pod's
	// gateway by proxy (calico's 169.254.1.1).
	ReasonProxyARPDisabled Reason = "ProxyARPDisabled"

	// Filtering and NAT.
	ReasonIPTablesDrop        Reason = "IPTablesDrop"
	ReasonIPTablesReject      Reason = "IPTablesReject"
	ReasonNFTablesDrop        Reason = "NFTablesDrop"
	ReasonNFTablesReject      Reason = "NFTablesReject"
	ReasonRuleNotUnderstood   Reason = "RuleNotUnderstood"
	ReasonNetworkPolicyDenied Reason = "NetworkPolicyDenied"
	ReasonPolicyNotEnforced   Reason = "NetworkPolicyNotEnforced"

	// The cluster-wide tiers of the network-policy-api: AdminNetworkPolicy,
	// BaselineAdminNetworkPolicy and ClusterNetworkPolicy.
	ReasonAdminNetworkPolicyDenied         Reason = "AdminNetworkPolicyDenied"
	ReasonBaselineAdminNetworkPolicyDenied Reason = "BaselineAdminNetworkPolicyDenied"
	ReasonAdminNetworkPolicyNotEnforced    Reason = "AdminNetworkPolicyNotEnforced"
	ReasonMasqueradeMissing                Reason = "MasqueradeMissing"

	// Calico's own policy model (projectcalico.org/v3 policies, tiers, profiles).
	ReasonCalicoPolicyDenied        Reason = "CalicoPolicyDenied"
	ReasonCalicoPolicyNotProgrammed Reason = "CalicoPolicyNotProgrammed"

	// Services.
	ReasonServiceNoEndpoints      Reason = "ServiceNoEndpoints"
	ReasonServicePortMissing      Reason = "ServicePortMissing"
	ReasonServiceRulesMissing     Reason = "ServiceRulesMissing"
	ReasonServiceEndpointStale    Reason = "ServiceEndpointStale"
	ReasonServiceLocalNoEndpoints Reason = "ServiceLocalNoEndpoints"
	ReasonServiceHairpinNoMasq    Reason = "ServiceHairpinNoMasquerade"

	// The destination.
	ReasonNotListening Reason = "NotListening"

	// The network plugin.
	ReasonPluginUnknown Reason = "NetworkPluginUnknown"
	ReasonPathDiverges  Reason = "PathDiverges"

	// Confirmation by real packets.
	ReasonProbeDisagrees Reason = "ProbeDisagrees"
	// ReasonProbeObserved: a real probe's outcome, given to help decide where the simulation
	// could not (an Unknown verdict), or a probe that told neither way.
	ReasonProbeObserved Reason = "ProbeObserved"

	// Services as large clusters have them.
	ReasonServiceEndpointsSampled     Reason = "ServiceEndpointsSampled"
	ReasonServiceEntryNodes           Reason = "ServiceEntryNodes"
	ReasonServiceProxyReplaced        Reason = "ServiceProxyReplaced"
	ReasonServiceExternalName         Reason = "ServiceExternalName"
	ReasonServiceLoadBalancerHostname Reason = "ServiceLoadBalancerHostname"
	ReasonServiceHairpinModeOff       Reason = "ServiceHairpinModeOff"
	ReasonServiceAffinityPinned       Reason = "ServiceAffinityPinned"
	// Names and the DNS path.
	ReasonNameResolved    Reason = "NameResolved"
	ReasonNameNotResolved Reason = "NameNotResolved"
	ReasonDNSPathBroken   Reason = "DNSPathBroken"
	ReasonDNSPathUnknown  Reason = "DNSPathUnknown"
)

// ReasonInfo documents one reason code: the level it is reported at, what it means and what
// to do, and the same for every other level it is reported at.
type ReasonInfo struct {
	Reason  Reason
	Level   Level
	Meaning string
	Remedy  string
	// FoundBy names the parts that report it: the hop (internal/plugin and the walk),
	// netstack (the namespace assertions), service, policy, diagnose.
	FoundBy string
	// Topic groups codes in the documentation ("Routing").
	Topic string
	// Others are the other levels the code is reported at, each with what it means there.
	Others []ReasonLevel
}

// ReasonLevel is what a code means at one more level.
type ReasonLevel struct {
	Level   Level
	Meaning string
	Remedy  string
}

// Levels returns the code's levels with their meaning, the main one first.
func (r ReasonInfo) Levels() []ReasonLevel {
	return append([]ReasonLevel{{Level: r.Level, Meaning: r.Meaning, Remedy: r.Remedy}}, r.Others...)
}

// Topics of the reason codes, in the order the documentation lists them.
const (
	topicSnapshot  = "Endpoints and the snapshot"
	topicLinks     = "Interfaces and links"
	topicRouting   = "Routing"
	topicFiltering = "Filtering and NAT"
	topicServices  = "Services"
	topicDest      = "The destination"
	topicPlugin    = "The network plugin"
	topicProbe     = "Confirmation by real packets"
	topicNames     = "Names and the DNS path"
)

// Reasons declares every reason code the engine reports, with its levels and what each means
// and asks; a plugin's own codes are in its descriptor. docs/suspicions.md is written from
// these (`go test ./internal/plugins -run TestSuspicionsDoc -update-suspicions`).
func Reasons() []ReasonInfo {
	return []ReasonInfo{
		{Reason: ReasonSnapshotMissing, Level: Info, FoundBy: "hop, diagnose", Topic: topicSnapshot,
			Meaning: "A node or pod on the way was not collected: its part of the path is assumed from the plugin's intent, not checked. The branch ends Undecided, so the verdict is Unknown. Also: no node state was given at all.",
			Remedy:  "Check why the collector of that node did not report (node gone, collector failed); rerun."},
		{Reason: ReasonSnapshotPartError, Level: Warning, FoundBy: "hop, netstack", Topic: topicSnapshot,
			Meaning: "A part of a namespace's state (links, routes, rules, neighbours, sysctls, iptables, listening sockets, ...) could not be read. An empty part is not trusted: the checks that need it say nothing, a verdict that would be Reachable becomes Unknown, and missing routes end the branch Undecided.",
			Remedy:  "Read the error; usually the collector lacks a capability or a tool on the node."},
		{Reason: ReasonPodNotRunning, Level: Warning, FoundBy: "reserved", Topic: topicSnapshot,
			Meaning: "The pod is not Running. (Reserved for the endpoint checks.)",
			Remedy:  "Look at the pod's status and events."},
		{Reason: ReasonNodeNotReady, Level: Warning, FoundBy: "reserved", Topic: topicSnapshot,
			Meaning: "The node is not Ready. (Reserved for the endpoint checks.)",
			Remedy:  "Look at the node's conditions."},

		{Reason: ReasonInterfaceMissing, Level: Critical, FoundBy: "hop, netstack", Topic: topicLinks,
			Meaning: "An interface the packet must enter or leave by (a pod's `eth0`, a bridge, a tunnel) does not exist in the namespace: the route names a device that is gone, or no vxlan device listens on the tunnel's UDP port.",
			Remedy:  "Check the network plugin's agent on the node, which creates these interfaces (for flannel, restart flanneld)."},
		{Reason: ReasonInterfaceDown, Level: Critical, FoundBy: "hop, netstack", Topic: topicLinks,
			Meaning: "An interface on the way (the pod's host veth, the bridge, the vxlan device, the underlay) is administratively down, or up without carrier (a veth whose other end is down, a bridge with no port up), or the route the packet takes leaves by such an interface (the kernel still uses a route without carrier unless `ignore_routes_with_linkdown` is set, and the packets are lost). When the device the plugin intends is down, the kernel routes around it and this names the cause next to `RouteWrongNode`/`PathDiverges`.",
			Remedy:  "`ip link set <dev> up` and find what took it down; for a veth, bring up or recreate the other end (usually: restart the pod)."},
		{Reason: ReasonMTUMismatch, Level: Warning, FoundBy: "hop, netstack", Topic: topicLinks,
			Meaning: "A packet as large as the sender's MTU does not fit an interface on the way (a pod's MTU above the tunnel's for vxlan, or the underlay's for host-gw), or a tunnel's MTU plus its encapsulation (50 bytes for VXLAN over IPv4, 20 for IPIP) exceeds its underlay's MTU. Connections open, but large packets are dropped or fragmented and transfers stall.",
			Remedy:  "Lower the pod or tunnel MTU to the figure the message gives (the network plugin's MTU setting; for flannel vxlan, the underlay's MTU - 50), or raise the underlay's."},
		{Reason: ReasonPacketTooBig, Level: Critical, FoundBy: "hop", Topic: topicLinks,
			Meaning: "The question asks about packets of a size (spec.packetSize), and one of them is larger than an MTU on the way where it cannot be fragmented: it carries DF (TCP always, ICMP and UDP when spec.dontFragment is set) and leaves by a device with a smaller MTU, where the kernel drops it and answers ICMP fragmentation needed, or it enters a veth end whose MTU is smaller, which drops it silently. Small packets get through and large ones do not: requests hang once they grow. For TCP the size is the full-size segment the two ends' MSS allow, so only an MTU below both ends' counts.",
			Remedy:  "Give every interface on the way at least the ends' MTU (both ends of each veth alike), or lower the pods' MTU to the smallest on the way (the network plugin's MTU setting); make sure ICMP fragmentation-needed reaches the sender so path MTU discovery can adapt."},

		{Reason: ReasonRouteMissing, Level: Critical, FoundBy: "hop, netstack", Topic: topicRouting,
			Meaning: "No table the policy rules consult has a route to the destination (`ip route get` answers \"Network is unreachable\"), or a local sender asks for a source address the host does not own.",
			Remedy:  "Add the route the plugin should have made: its agent writes the routes to the other nodes' pod subnets (for flannel, restart flanneld)."},
		{Reason: ReasonRouteBlackhole, Level: Critical, FoundBy: "hop, netstack", Topic: topicRouting,
			Meaning: "A blackhole route or rule swallows the packet without an answer. The rule is the route.",
			Remedy:  "Remove the blackhole route (`ip route del blackhole <prefix>`) or the process that adds it, or add the more specific route that should win."},
		{Reason: ReasonRouteUnreachable, Level: Critical, FoundBy: "hop, netstack", Topic: topicRouting,
			Meaning: "An unreachable route or policy rule refuses the packet (the sender gets ICMP unreachable), or the kernel refuses to route it (martian source or destination).",
			Remedy:  "Read the route or rule named; as for a blackhole."},
		{Reason: ReasonRouteProhibited, Level: Critical, FoundBy: "netstack", Topic: topicRouting,
			Meaning: "A prohibit route or rule rejects the packet; the sender gets ICMP administratively prohibited.",
			Remedy:  "As for a blackhole; often a policy-routing rule written for another purpose."},
		{Reason: ReasonRouteWrongNode, Level: Critical, FoundBy: "hop", Topic: topicRouting,
			Meaning: "The data plane sends a packet for the cluster somewhere that does not hold it: out to a router outside the cluster (a missing pod-subnet route falls through to the default route), a vxlan fdb entry that points to no node, a tunnel packet addressed to an address the receiver does not hold.",
			Remedy:  "Fix the route or fdb entry; `PathDiverges` next to it shows where the plugin meant the packet to go."},
		{Reason: ReasonRoutingLoop, Level: Critical, FoundBy: "hop", Topic: topicRouting,
			Meaning: "The same packet comes back to the same place by the same interface: the routes form a loop. Also an fdb entry pointing to the node itself.",
			Remedy:  "Read the routes of the NetNodes in the loop."},
		{Reason: ReasonIPForwardDisabled, Level: Critical, FoundBy: "hop, netstack", Topic: topicRouting,
			Meaning: "The node must forward the packet, but forwarding is off on the interface it came in by (`net.ipv4.conf.<dev>.forwarding`, which `net.ipv4.ip_forward` sets on every interface).",
			Remedy:  "`sysctl -w net.ipv4.ip_forward=1` and make it persistent."},
		{Reason: ReasonRPFilterDrop, Level: Critical, FoundBy: "hop, netstack", Topic: topicRouting,
			Meaning: "Reverse path filtering drops the packet: in strict mode (`rp_filter=1`, the larger of `conf/all` and `conf/<dev>`) the route back to its source leaves by another interface than the packet came in by (an asymmetric path: replies through another interface, policy routing); in loose mode (2) there is no route back at all.",
			Remedy:  "Make the path symmetric, or set `rp_filter=2` (loose) on that interface and `all`."},
		{Reason: ReasonMartianPacket, Level: Critical, FoundBy: "netstack", Topic: topicRouting,
			Meaning: "The kernel drops the packet as martian: its source is one of the host's own addresses (without `accept_local`), a loopback, multicast or broadcast address, or the route back to the source is not unicast; or its destination is a loopback address from outside, 0.0.0.0, or a multicast group the host did not join (group membership is not in the snapshot).",
			Remedy:  "Find who sends with that source (a NAT that did not translate, a duplicated address)."},
		{Reason: ReasonNeighbourMissing, Level: Critical, FoundBy: "hop, netstack", Topic: topicRouting,
			Meaning: "The next hop's neighbour entry that the network plugin writes is missing or failed (flannel's vxlan writes PERMANENT entries on `flannel.1`, and nothing else resolves them), so the packet cannot be addressed to the remote VTEP; or no pod on the bridge holds the next hop.",
			Remedy:  "Check the plugin's agent on the node (flanneld programs the entries): it has not seen the peer node, or failed to write the entry.",
			Others: []ReasonLevel{{Level: Warning,
				Meaning: "An ordinary neighbour entry on the underlay or a bridge is FAILED or INCOMPLETE: the address did not answer ARP.",
				Remedy:  "Check that the next hop is up and on the same link."}}},
		{Reason: ReasonFDBMissing, Level: Critical, FoundBy: "hop, netstack", Topic: topicRouting,
			Meaning: "The vxlan device's forwarding database has no entry for the next hop's MAC, so encapsulated frames have no remote VTEP to go to.",
			Remedy:  "Check the plugin's agent on the node."},
		{Reason: ReasonFDBWrongRemote, Level: Critical, FoundBy: "netstack", Topic: topicRouting,
			Meaning: "The forwarding entry for the peer's MAC points to another node's address: a stale entry after the peer changed address, or a MAC clash.",
			Remedy:  "Delete the entry (`bridge fdb del <mac> dev <dev>`) and let the agent rewrite it."},
		{Reason: ReasonProxyARPDisabled, Level: Critical, FoundBy: "hop (calico)", Topic: topicRouting,
			Meaning: "Calico: a pod has no usable neighbour entry for its gateway 169.254.1.1 and `proxy_arp` is off on the host end of its veth (`cali...`), so nothing answers the pod's ARP and everything it sends is lost. A pod entry with another MAC than the veth's is `NeighbourMissing`.",
			Remedy:  "`sysctl -w net.ipv4.conf.<cali...>.proxy_arp=1`; felix sets it, so check calico-node on the node.",
			Others: []ReasonLevel{
				{Level: Warning,
					Meaning: "Calico: `proxy_arp` is off on the host end of the pod's veth and the pod's entry for its gateway is a learned one: it works until it expires.",
					Remedy:  "As at Critical."},
				{Level: Info,
					Meaning: "Calico: `proxy_arp` is off on the host end of the pod's veth, but the pod's entry for its gateway is static: the pod keeps working.",
					Remedy:  "Nothing is broken; felix normally sets it, so check calico-node if it stays off."}}},
		{Reason: ReasonHopLimitExceeded, Level: Critical, FoundBy: "hop", Topic: topicRouting,
			Meaning: "A branch crossed more than 32 NetNodes without arriving.",
			Remedy:  "Look for a loop the visited set did not catch (NAT changing the packet every turn).",
			Others: []ReasonLevel{{Level: Info,
				Meaning: "The packet forks into more than 256 branches and the rest are not followed.",
				Remedy:  "The verdict covers the branches followed; ask about one endpoint instead of the service to follow another."}}},

		{Reason: ReasonIPTablesDrop, Level: Critical, FoundBy: "hop, service", Topic: topicFiltering,
			Meaning: "An iptables rule drops the packet at a hook (the tunnel's outer packet included: a DROP of UDP 8472 in INPUT stops flannel vxlan), or a rule that is not kube-proxy's drops the packet to a service before or after its translation. The rule is the deciding rule; the message has the chain path.",
			Remedy:  "Read the rule; remove it or add an ACCEPT before it."},
		{Reason: ReasonIPTablesReject, Level: Critical, FoundBy: "hop, service", Topic: topicFiltering,
			Meaning: "An iptables rule rejects the packet, at a hook or to a service; the rule and the chain path are given as for `IPTablesDrop`.",
			Remedy:  "As for `IPTablesDrop`."},
		{Reason: ReasonNFTablesDrop, Level: Critical, FoundBy: "hop, service", Topic: topicFiltering,
			Meaning: "An nftables rule (or the drop policy of an nftables base chain) drops the packet at a hook: kube-proxy's in nftables mode, or another table on the node. The hop walks iptables' tables and nftables' base chains in the kernel's priority order; the rule names its table, chain and handle, the message the chain path of both rulesets.",
			Remedy:  "`nft -a list chain <family> <table> <chain>` and remove or change the rule."},
		{Reason: ReasonNFTablesReject, Level: Critical, FoundBy: "hop, service", Topic: topicFiltering,
			Meaning: "An nftables rule rejects the packet; the rule names its table, chain and handle.",
			Remedy:  "As for `NFTablesDrop`."},
		{Reason: ReasonRuleNotUnderstood, Level: Info, FoundBy: "hop, service", Topic: topicFiltering,
			Meaning: "A rule on the way uses a match or target the evaluator does not know: where it decides the outcome the branch is Undecided and the verdict Unknown; elsewhere it was passed over and named. Also: the node's iptables text or nftables ruleset could not be parsed at all.",
			Remedy:  "Read the rule named; if it matters, the verdict tells you it was not decided."},
		{Reason: ReasonNetworkPolicyDenied, Level: Critical, FoundBy: "hop, policy", Topic: topicFiltering,
			Meaning: "The network plugin enforces NetworkPolicy, the pod is isolated for the direction (egress at the source pod, ingress at the destination pod) by the policies named in the rule, and no rule of theirs matches the packet's peer, protocol and port. One suspicion per denying direction.",
			Remedy:  "Add a rule that allows the traffic to one of the policies named, or change their podSelector; a named port must exist on the destination pod with that protocol."},
		{Reason: ReasonPolicyNotEnforced, Level: Info, FoundBy: "hop, policy", Topic: topicFiltering,
			Meaning: "The policies named would deny the packet in that direction, but the network plugin (flannel alone) does not enforce NetworkPolicy, so nothing filters it there.",
			Remedy:  "Install a policy engine if the policies are meant to hold, or remove them."},
		{Reason: ReasonAdminNetworkPolicyDenied, Level: Critical, FoundBy: "hop, policy", Topic: topicFiltering,
			Meaning: "A rule of the admin tier denies the packet in that direction: an AdminNetworkPolicy, or a ClusterNetworkPolicy of tier Admin, selects the pod and its first matching rule (by priority, then in the order written) is Deny. NetworkPolicy is not consulted. The rule names the policy, its priority and the rule's index and name.",
			Remedy:  "Change or remove the rule named, or add an Allow (Accept) or Pass rule before it, in that policy or one of a lower priority number."},
		{Reason: ReasonBaselineAdminNetworkPolicyDenied, Level: Critical, FoundBy: "hop, policy", Topic: topicFiltering,
			Meaning: "No admin-tier rule decided and no NetworkPolicy isolates the pod for that direction, and the first matching rule of the baseline tier (the BaselineAdminNetworkPolicy, or a ClusterNetworkPolicy of tier Baseline) is Deny. The rule names the policy and the rule.",
			Remedy:  "Add a NetworkPolicy that allows the traffic (NetworkPolicy overrides the baseline), or change the baseline rule named."},
		{Reason: ReasonAdminNetworkPolicyNotEnforced, Level: Info, FoundBy: "hop", Topic: topicFiltering,
			Meaning: "The cluster has AdminNetworkPolicies, BaselineAdminNetworkPolicies or ClusterNetworkPolicies, but the network plugin is not known to enforce them, so the packet was judged by NetworkPolicy alone.",
			Remedy:  "If the plugin does enforce them (a newer release), say so in the plugin's configuration; otherwise they do not protect anything."},
		{Reason: ReasonCalicoPolicyDenied, Level: Critical, FoundBy: "hop, policy", Topic: topicFiltering,
			Meaning: "Calico's policies (projectcalico.org/v3 NetworkPolicy and GlobalNetworkPolicy in their tiers, Kubernetes NetworkPolicies as Calico's tier default, HostEndpoint policies, profiles) deny the packet at an endpoint. The message names the deciding tier, policy, rule index and action as Calico's flow logs write them (`<tier>|<ns>/<tier>.<name>|deny|<rule>`); rule -1 is the tier's end, where a tier with policies selecting the endpoint and none deciding denies, and then the message names the policies that selected it.",
			Remedy:  "Add an Allow (or a Pass to a later tier) to the policy named, or change its selector; `calicoctl get networkpolicy -n <ns> <name> -o yaml` shows it."},
		{Reason: ReasonCalicoPolicyNotProgrammed, Level: Warning, FoundBy: "hop", Topic: topicFiltering,
			Meaning: "The node's felix chains and Calico's objects disagree: a policy selecting the endpoint has no `cali-pi-`/`cali-po-` chain on the node, or the chains allow what the objects deny (or deny what they allow). The verdict follows the chains, which decide the packet; the objects say what felix should program.",
			Remedy:  "Felix on that node has not synced: check calico-node's (felix's) pod and logs and its connection to the datastore; the disagreement clears when felix catches up."},
		{Reason: ReasonMasqueradeMissing, Level: Critical, FoundBy: "hop", Topic: topicFiltering,
			Meaning: "A pod's packet leaves the cluster with the pod address as source: the plugin's masquerade (flannel's FLANNEL-POSTRTG) did not apply, so replies from outside cannot come back.",
			Remedy:  "Run flanneld with `--ip-masq`; check the nat POSTROUTING chain."},

		{Reason: ReasonServiceNoEndpoints, Level: Critical, FoundBy: "service", Topic: topicServices,
			Meaning: "The service port has no usable endpoint anywhere (none ready, nor serving while terminating): kube-proxy rejects (iptables) or drops (ipvs) the packet. The message says why: no ready pod, a selector that matches no pod, a named targetPort that no container port has.",
			Remedy:  "Fix the pods' readiness, the selector or the targetPort name."},
		{Reason: ReasonServiceLocalNoEndpoints, Level: Critical, FoundBy: "service", Topic: topicServices,
			Meaning: "`externalTrafficPolicy: Local` (packets from outside to a node port, external or load-balancer IP) or `internalTrafficPolicy: Local` (the cluster IP) and no endpoint on this node: the node drops the packet. The rule is the DROP kube-proxy wrote.",
			Remedy:  "Send the traffic to a node that runs an endpoint (load balancer health checks do this), or use the Cluster policy."},
		{Reason: ReasonServiceRulesMissing, Level: Critical, FoundBy: "service", Topic: topicServices,
			Meaning: "The EndpointSlices list endpoints but the node has no rules that translate the packet (or still rejects it as having none): kube-proxy is not running on the node or has not synced.",
			Remedy:  "Check kube-proxy's pod and logs on that node.",
			Others: []ReasonLevel{{Level: Warning,
				Meaning: "A ready endpoint of the slices has no rule on the node: the rules lag behind the slices.",
				Remedy:  "As at Critical; new connections avoid that endpoint until kube-proxy syncs."}}},
		{Reason: ReasonServiceEndpointStale, Level: Critical, FoundBy: "service", Topic: topicServices,
			Meaning: "The rules send a share of new connections to an endpoint no EndpointSlice lists any more: those connections fail. The rule is the DNAT.",
			Remedy:  "Check kube-proxy on that node; it has not synced.",
			Others: []ReasonLevel{{Level: Warning,
				Meaning: "The rules send to an endpoint the slices list as not ready or terminating (or remote under a Local policy).",
				Remedy:  "Usually transient; persistent means kube-proxy is not syncing."}}},
		{Reason: ReasonServicePortMissing, Level: Critical, FoundBy: "service", Topic: topicServices,
			Meaning: "The destination is a service address but the port is not a port of the service. The message lists the ports.",
			Remedy:  "Use one of the service's ports, or add the port to the Service."},
		{Reason: ReasonServiceHairpinNoMasq, Level: Warning, FoundBy: "service", Topic: topicServices,
			Meaning: "A pod reaches itself through its service but the rules do not mark the packet for masquerade, so the reply skips the reverse translation.",
			Remedy:  "kube-proxy's KUBE-SEP rule `-s <pod> -j KUBE-MARK-MASQ` is missing; check kube-proxy, and the bridge's hairpin mode."},

		{Reason: ReasonNotListening, Level: Critical, FoundBy: "hop, netstack", Topic: topicDest,
			Meaning: "The packet arrives but nothing in the destination listens on the protocol and port at that address (the snapshot's socket list; a socket on 0.0.0.0 or :: counts for every address): TCP is refused, UDP answered with ICMP port unreachable.",
			Remedy:  "Check the container's port and the address its server binds (127.0.0.1 is not reachable from outside the pod).",
			Others: []ReasonLevel{{Level: Info,
				Meaning: "The destination's snapshot has no socket list, so whether anything listens was not checked.",
				Remedy:  "Nothing to fix; collect again where the collector can read the sockets to have it checked."}}},

		{Reason: ReasonPluginUnknown, Level: Info, FoundBy: "hop", Topic: topicPlugin,
			Meaning: "The plugin could not be recognised from the DaemonSets; the data plane is followed without a plugin's intent. Also: a plugin could not say where it sends a packet.",
			Remedy:  "Pass `--network-plugin` (or spec.networkPlugin)."},
		{Reason: ReasonPathDiverges, Level: Warning, FoundBy: "hop", Topic: topicPlugin,
			Meaning: "The data plane sends the packet somewhere the plugin (Kubernetes' intent) does not: both places are in the message. The walk follows the data plane. Also: flannel, when a node's announced VTEP MAC differs from its device's.",
			Remedy:  "Compare the route with the one the plugin installs; a stale route or a wrong gateway."},

		{Reason: ReasonProbeDisagrees, Level: Warning, FoundBy: "diagnose", Topic: topicProbe,
			Meaning: "The verdict is Reachable and the real probe did not get through (timed out, refused, unreachable), or the verdict is Unreachable and the probe got through. The message names both outcomes and the probe's own words; the summary ends with it. Causes: the state changed between the collection and the probe, something outside the snapshot decides (a firewall or the underlay between the nodes, a server that refuses), or the engine misreads the state.",
			Remedy:  "Trust the probe. Collect again to rule out a change; if the state still explains nothing, report the snapshot (`netdiag collect --output`) as a bug."},
		{Reason: ReasonProbeObserved, Level: Info, FoundBy: "diagnose", Topic: topicProbe,
			Meaning: "The verdict is Unknown (a node not collected, a part not read, a rule not understood) and the probe's outcome is given to decide with; the summary ends with it. Also: a probe that tells neither way, whatever the verdict (not sent: the pod's namespace was not found, no raw socket for ICMP; a UDP datagram met silence, which a silent server and a silent drop both give).",
			Remedy:  "Read the other suspicions with the probe's outcome in mind; for a UDP probe, a server that answers any datagram makes the probe conclusive."},

		{Reason: ReasonServiceEndpointsSampled, Level: Info, FoundBy: "diagnose", Topic: topicServices,
			Meaning: "The service's endpoints run on more nodes than the manager collects for one diagnosis (`--max-service-nodes`, 64 by default), or are more than 128: the endpoints on a deterministic spread of the nodes were followed, and the message says how many of how many. The verdict covers the branches followed.",
			Remedy:  "Nothing is wrong; to check a particular endpoint, ask about its pod, or raise `--max-service-nodes`."},
		{Reason: ReasonServiceEntryNodes, Level: Info, FoundBy: "diagnose", Topic: topicServices,
			Meaning: "Traffic from outside to a load-balancer or external IP enters by a node that the router or the cloud load balancer picks, which no node's state shows: the message names the entry nodes followed (spec.entryNodes, else every node; for `externalTrafficPolicy: Local` the nodes with a local endpoint, and those without are named as left out, since a load balancer's health check fails on them).",
			Remedy:  "Name the nodes the load balancer really uses in spec.entryNodes to have only those followed."},
		{Reason: ReasonServiceProxyReplaced, Level: Info, FoundBy: "diagnose", Topic: topicServices,
			Meaning: "The cluster runs a replacement of kube-proxy (Cilium's kube-proxy replacement, Calico's eBPF data plane, kube-router's service proxy, Antrea's proxy for all traffic), recognised by its own configuration; it translates services outside the rules netdiag reads, so the service part of the path is not simulated and a branch it decides is Unknown, never a missing-rules finding.",
			Remedy:  "Set `probe: true` to have real packets decide, or ask about the endpoint pod directly."},
		{Reason: ReasonServiceExternalName, Level: Info, FoundBy: "diagnose", Topic: topicServices,
			Meaning: "The service is of type ExternalName: a DNS alias (a CNAME record), with no address, rules or endpoints of its own. When the name is a cluster service's, that service is diagnosed instead.",
			Remedy:  "Ask about the address the name resolves to, or the cluster service it names."},
		{Reason: ReasonServiceLoadBalancerHostname, Level: Info, FoundBy: "diagnose", Topic: topicServices,
			Meaning: "The load balancer's ingress is a hostname, not an address: its traffic reaches the nodes through the cloud load balancer's own addresses (to the node ports), which the cluster's state does not show.",
			Remedy:  "Diagnose from outside to a node's NodePort, which is where the load balancer sends."},
		{Reason: ReasonServiceAffinityPinned, Level: Info, FoundBy: "service", Topic: topicServices,
			Meaning: "The service has ClientIP session affinity and the client connected to it recently: kube-proxy keeps the client on the endpoint it was given first (on its recent list in iptables mode, its affinity set in nftables mode), so every connection of this client takes that one branch, and only that endpoint's fate counts for it until the affinity times out.",
			Remedy:  "When the pinned endpoint fails, this client fails every time while others succeed: fix or remove that endpoint (kube-proxy drops its rules and the client's pin with them), or wait out sessionAffinityConfig.clientIP.timeoutSeconds."},
		{Reason: ReasonServiceHairpinModeOff, Level: Critical, FoundBy: "hop", Topic: topicServices,
			Meaning: "A pod reaches itself through its Service (hairpin): the bridge must send the packet back out of the port it came in by, and that port's hairpin mode is off, so the bridge drops it. The interface is the pod's host veth.",
			Remedy:  "Turn hairpin mode on for the pod's port (`ip link set <veth> type bridge_slave hairpin on`); for good, the CNI bridge plugin's `hairpinMode: true` or kubelet's `--hairpin-mode=hairpin-veth`."},
		{Reason: ReasonNameResolved, Level: Info, FoundBy: "diagnose", Topic: topicNames,
			Meaning: "The destination was named by a DNS name: the message says which name answered (after the source's search path and any ExternalName alias), the address the diagnosis used and where the answer came from (the cluster's objects, as the cluster DNS answers; or the source's own resolver, asked by the collector inside the source's network namespace). A headless Service answers with several addresses: the message lists them and the path follows the first.",
			Remedy:  "Nothing to fix; check that the address is the one meant."},
		{Reason: ReasonNameNotResolved, Level: Critical, FoundBy: "diagnose", Topic: topicNames,
			Meaning: "The name resolves to no address: the cluster DNS answers NXDOMAIN for every name the source's resolver asks (no such Service or pod, a namespace misspelt, a per-pod name of a pod that is not ready), a headless Service has no ready endpoint, or the source's resolver answered no address. The verdict is Unreachable; the message lists the names asked.",
			Remedy:  "Check the Service's name and namespace (`kubectl get svc -n <ns>`), its endpoints, and the source pod's search path (`cat /etc/resolv.conf` in the pod).",
			Others: []ReasonLevel{{Level: Warning,
				Meaning: "The name resolves to no address in the cluster either, but the source's queries do not reach the cluster DNS at all (`DNSPathBroken` decides): once the way is fixed, the answer will be NXDOMAIN.",
				Remedy:  "Fix the DNS path first, then the name."}, {Level: Info,
				Meaning: "The name is outside the cluster domain, and the source's own resolver was not asked (the source is not a pod whose namespace the collector reached, or its answer did not arrive): the verdict is Unknown.",
				Remedy:  "Name the address with ip, or rerun once the source's collector can reach its namespace."}}},
		{Reason: ReasonDNSPathBroken, Level: Critical, FoundBy: "diagnose", Topic: topicNames,
			Meaning: "The way from the source to its nameserver (the cluster DNS Service, kube-system/kube-dns, from the pod's resolv.conf) on UDP port 53 does not get through: the pod cannot resolve any name, so the destination is unreachable by its name even where its address is reachable. The message gives the DNS path's own verdict and the suspicion that decided it (a NetworkPolicy denying egress to port 53, the DNS Service without endpoints, a drop on the way). The DNS Service having no address at all is also this.",
			Remedy:  "Fix what the message names on the way to the DNS pods; a default-deny egress policy needs a rule allowing UDP and TCP 53 to kube-system's DNS pods.",
			Others: []ReasonLevel{{Level: Warning,
				Meaning: "UDP port 53 gets through but TCP port 53 does not: answers too large for UDP (many records, DNSSEC) fail, small ones work.",
				Remedy:  "Allow TCP 53 too, where UDP 53 is allowed."}}},
		{Reason: ReasonDNSPathUnknown, Level: Info, FoundBy: "diagnose", Topic: topicNames,
			Meaning: "The way from the source to its nameserver could not be decided (a node not collected, a rule not understood), or the nameserver is not the cluster DNS and lies outside what the snapshot shows; the message gives the DNS path's own answer. Also: the source pod's resolver is not known (a dnsPolicy that takes the node's resolver, or no Service kube-system/kube-dns), so only full cluster names were answered and no DNS path was diagnosed. With a Reachable address, a DNS path not decided makes the verdict Unknown.",
			Remedy:  "Read the message; probe: true checks the destination for real."},
	}
}
