package model

// Reason codes. Every code is documented in docs/suspicions.md with its level and what to do;
// a code, once released, is never renamed.
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
	ReasonMasqueradeMissing   Reason = "MasqueradeMissing"

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
)

// ReasonInfo documents one reason code: the level it is reported at, what it means and what to
// do. docs/suspicions.md is checked against these declarations.
type ReasonInfo struct {
	Reason  Reason
	Level   Level
	Meaning string
	Remedy  string
}
