package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Protocol is the transport protocol of the diagnosed traffic.
// +kubebuilder:validation:Enum=TCP;UDP;SCTP;ICMP
type Protocol string

const (
	ProtocolTCP  Protocol = "TCP"
	ProtocolUDP  Protocol = "UDP"
	ProtocolSCTP Protocol = "SCTP"
	ProtocolICMP Protocol = "ICMP"
)

// PodReference names a Pod.
type PodReference struct {
	// namespace of the Pod. Defaults to the namespace of the NetworkDiagnosis.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace,omitempty"`

	// name of the Pod.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// NodeReference names a Node.
type NodeReference struct {
	// name of the Node.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// ServiceReference names a Service.
type ServiceReference struct {
	// namespace of the Service. Defaults to the namespace of the NetworkDiagnosis.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace,omitempty"`

	// name of the Service.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
}

// Source is where the diagnosed traffic starts: exactly one of pod, node or ip.
// +kubebuilder:validation:XValidation:rule="[has(self.pod), has(self.node), has(self.ip)].filter(x, x).size() == 1",message="source must name exactly one of pod, node or ip"
type Source struct {
	// pod sends the traffic from inside its network namespace. Naming it needs get on
	// that pod.
	// +optional
	Pod *PodReference `json:"pod,omitempty"`

	// node sends the traffic from the node's own network namespace. Naming a node needs
	// the cluster-scoped create on networkdiagnoses/nodes.
	// +optional
	Node *NodeReference `json:"node,omitempty"`

	// ip sends the traffic from an address outside the cluster, for example a client of a
	// NodePort or LoadBalancer Service. Loopback, unspecified, multicast, broadcast and
	// link-local addresses are refused. Naming an ip needs the cluster-scoped create on
	// networkdiagnoses/nodes.
	// +optional
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="ip must be a valid IPv4 or IPv6 address"
	// +kubebuilder:validation:XValidation:rule="!isIP(self) || ip(self).isGlobalUnicast()",messageExpression="'ip ' + self + ' is ' + (ip(self).isLoopback() ? 'a loopback' : ip(self).isUnspecified() ? 'the unspecified' : ip(self).isLinkLocalUnicast() ? 'a link-local' : self == '255.255.255.255' ? 'the broadcast' : 'a multicast') + ' address: name a unicast address that traffic can be sent to'"
	IP string `json:"ip,omitempty"`
}

// Destination is where the diagnosed traffic goes: exactly one of pod, node, service, ip or
// name.
// +kubebuilder:validation:XValidation:rule="[has(self.pod), has(self.node), has(self.service), has(self.ip), has(self.name)].filter(x, x).size() == 1",message="destination must name exactly one of pod, node, service, ip or name"
type Destination struct {
	// pod receives the traffic. Naming it needs get on that pod.
	// +optional
	Pod *PodReference `json:"pod,omitempty"`

	// node receives the traffic in its own network namespace. Naming a node needs the
	// cluster-scoped create on networkdiagnoses/nodes.
	// +optional
	Node *NodeReference `json:"node,omitempty"`

	// service receives the traffic on its cluster IP and is load-balanced to its endpoints.
	// Naming it needs get on that service.
	// +optional
	Service *ServiceReference `json:"service,omitempty"`

	// ip receives the traffic: a cluster IP, a pod or node address, or an address outside
	// the cluster. Loopback, unspecified, multicast, broadcast and link-local addresses (the
	// node itself, a cloud's metadata service) are refused. Naming an ip needs the
	// cluster-scoped create on networkdiagnoses/nodes.
	// +optional
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="ip must be a valid IPv4 or IPv6 address"
	// +kubebuilder:validation:XValidation:rule="!isIP(self) || ip(self).isGlobalUnicast()",messageExpression="'ip ' + self + ' is ' + (ip(self).isLoopback() ? 'a loopback' : ip(self).isUnspecified() ? 'the unspecified' : ip(self).isLinkLocalUnicast() ? 'a link-local' : self == '255.255.255.255' ? 'the broadcast' : 'a multicast') + ' address: name a unicast address that traffic can be sent to'"
	IP string `json:"ip,omitempty"`

	// name receives the traffic at the address a DNS name resolves to, as the source pod's
	// resolver would resolve it. Cluster names (db, db.data, db.data.svc.cluster.local, a
	// headless Service's web-0.web.shop.svc.cluster.local, a pod's
	// 10-244-1-5.shop.pod.cluster.local) are resolved from the cluster's objects as the
	// cluster DNS answers them, through the source pod's search path; other names
	// (example.com) by the source's own resolver when it is collected. The status says which
	// name resolved to which address, and the way to the source's nameserver is diagnosed
	// too. A name that may be a Service's (one or two labels, or SERVICE.NAMESPACE.svc...)
	// needs get on that Service or what an ip needs; a headless Service's per-pod name needs
	// get on that Service; any other name needs what an ip needs.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?([.][a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*[.]?$')",message="name must be a DNS name: lower-case labels of letters, digits and dashes, at most 63 characters each, joined by dots"
	// +kubebuilder:validation:XValidation:rule="!isIP(self)",message="name must be a DNS name, not an address: name an address with ip"
	Name string `json:"name,omitempty"`
}

// NetworkDiagnosisSpec is the question: does traffic of this protocol and port get from the
// source to the destination?
// +kubebuilder:validation:XValidation:rule="!has(self.protocol) || self.protocol == 'ICMP' || has(self.port)",message="port is required for TCP, UDP and SCTP",fieldPath=".port"
// +kubebuilder:validation:XValidation:rule="!has(self.protocol) || self.protocol != 'ICMP' || !has(self.port)",message="port must not be set for ICMP",fieldPath=".port"
// +kubebuilder:validation:XValidation:rule="!has(self.dontFragment) || !self.dontFragment || has(self.packetSize)",message="dontFragment needs packetSize: it says what happens to packets of that size",fieldPath=".dontFragment"
type NetworkDiagnosisSpec struct {
	// source is where the traffic starts.
	// +required
	Source Source `json:"source"`

	// destination is where the traffic goes.
	// +required
	Destination Destination `json:"destination"`

	// protocol of the traffic: TCP, UDP, SCTP or ICMP. SCTP is diagnosed from the rules alone:
	// the probe cannot send it.
	// +optional
	// +kubebuilder:default=TCP
	Protocol Protocol `json:"protocol,omitempty"`

	// port is the destination port, required for TCP, UDP and SCTP and forbidden for ICMP. For a
	// Service destination it is the Service's port, not the target port.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port *int32 `json:"port,omitempty"`

	// packetSize asks about packets of this many bytes (the IP packet, header included), as
	// in "small requests work, large ones hang": an MTU on the way smaller than the packet,
	// where it cannot be fragmented, is then the verdict's reason. For ICMP and UDP it is the
	// packets' size; for TCP, whose segments are as large as the MSS the two ends negotiate,
	// it caps the full-size segments asked about (set it to 65535 to ask about the largest
	// the ends allow). Unset asks about small packets.
	// +optional
	// +kubebuilder:validation:Minimum=68
	// +kubebuilder:validation:Maximum=65535
	PacketSize *int32 `json:"packetSize,omitempty"`

	// dontFragment sets DF on the ICMP and UDP packets of packetSize: a packet larger than an
	// MTU on the way is then dropped there instead of fragmented. TCP always sets DF.
	// +optional
	DontFragment bool `json:"dontFragment,omitempty"`

	// timeout bounds the whole diagnosis, from creation to a final phase: collectors that have
	// not reported by then are given up on. Between 10s and 1h.
	// +optional
	// +kubebuilder:default="2m0s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s') && duration(self) <= duration('1h')",message="timeout must be between 10s and 1h"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// ttlSecondsAfterFinished deletes the NetworkDiagnosis this many seconds after it reached
	// a final phase. Unset keeps it until deleted by hand.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=31536000
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`

	// networkPlugin is the CNI plugin whose data plane the engine simulates; auto takes the
	// one the manager's --network-plugin names, or detects it from the nodes and the
	// DaemonSets of the system namespaces (never a tenant's).
	// +optional
	// +kubebuilder:default=auto
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	NetworkPlugin string `json:"networkPlugin,omitempty"`

	// networkPluginConfig overrides, for this diagnosis, the options of the network plugin
	// that the controller was started with ("this cluster runs calico in vxlan mode"). Keys are
	// the plugin's option names as its flags name them without the plugin's prefix (mode for
	// --calico-mode, backend for --flannel-backend); values are parsed and validated by the
	// plugin, and a key or value it does not accept fails the diagnosis with the plugin's
	// options listed. `netdiag manager --help` lists every plugin's options.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && size(k) <= 63)",message="option names are lower-case words joined by dashes"
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(self[k]) <= 253)",message="option values are at most 253 characters"
	NetworkPluginConfig map[string]string `json:"networkPluginConfig,omitempty"`

	// probe also sends a real connection attempt from inside the source to the resolved
	// destination's address, bounded in time, and reports what was observed beside the
	// simulated verdict. It needs create on networkdiagnoses/probe in the diagnosis's
	// namespace. A destination that resolves to a loopback, unspecified, multicast,
	// broadcast or link-local address is never probed.
	// +optional
	Probe bool `json:"probe,omitempty"`

	// entryNodes are the nodes traffic from outside the cluster enters by on its way to a
	// LoadBalancer ingress IP or an external IP: the router or the cloud load balancer picks
	// them, and no node's state shows which. Unset follows every node as an entry (for
	// externalTrafficPolicy Local, the nodes with a local endpoint, which a load balancer's
	// health check keeps). Naming nodes needs the cluster-scoped create on
	// networkdiagnoses/nodes.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	EntryNodes []string `json:"entryNodes,omitempty"`

	// keepSnapshots keeps what the engine read (the node snapshots, the cluster objects and
	// the question) as a support bundle until the diagnosis is deleted, by hand or by
	// ttlSecondsAfterFinished, so that `netdiag bundle` can write it out. Unset takes the
	// manager's --keep-snapshots.
	// +optional
	KeepSnapshots *bool `json:"keepSnapshots,omitempty"`
}

// Phase is where a NetworkDiagnosis is in its lifecycle. It says whether the diagnosis
// finished, not whether traffic gets through: that is the Verdict.
// +kubebuilder:validation:Enum=Pending;Collecting;Diagnosing;Succeeded;Failed
type Phase string

const (
	PhasePending    Phase = "Pending"
	PhaseCollecting Phase = "Collecting"
	PhaseDiagnosing Phase = "Diagnosing"
	PhaseSucceeded  Phase = "Succeeded"
	PhaseFailed     Phase = "Failed"
)

// Finished reports whether the phase is final.
func (p Phase) Finished() bool { return p == PhaseSucceeded || p == PhaseFailed }

// Verdict is the answer: does the traffic get through?
// +kubebuilder:validation:Enum=Reachable;Unreachable;Unknown;PartiallyReachable
type Verdict string

const (
	VerdictReachable   Verdict = "Reachable"
	VerdictUnreachable Verdict = "Unreachable"
	VerdictUnknown     Verdict = "Unknown"
	// VerdictPartiallyReachable: some of a Service's endpoints (or entry nodes) get the
	// traffic and others do not, so some connections fail; the suspicions name the failing
	// ones.
	VerdictPartiallyReachable Verdict = "PartiallyReachable"
)

// SuspicionLevel says how badly a suspicion affects the traffic.
// +kubebuilder:validation:Enum=Info;Warning;Critical;Fatal
type SuspicionLevel string

const (
	// LevelInfo is worth knowing and does not stop traffic.
	LevelInfo SuspicionLevel = "Info"
	// LevelWarning may hurt some traffic (some endpoints, large packets).
	LevelWarning SuspicionLevel = "Warning"
	// LevelCritical stops the diagnosed traffic.
	LevelCritical SuspicionLevel = "Critical"
	// LevelFatal stops all traffic through the place it names.
	LevelFatal SuspicionLevel = "Fatal"
)

// Suspicion is one thing found wrong, or worth knowing, on the way.
type Suspicion struct {
	// level says how badly the suspicion affects the traffic.
	// +required
	Level SuspicionLevel `json:"level"`

	// reason is a stable, machine-readable code such as RouteMissing or NetworkPolicyDenied,
	// documented in docs/suspicions.md.
	// +required
	// +kubebuilder:validation:MaxLength=64
	Reason string `json:"reason"`

	// node where the suspicion was found.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Node string `json:"node,omitempty"`

	// pod (namespace/name) where the suspicion was found.
	// +optional
	// +kubebuilder:validation:MaxLength=317
	Pod string `json:"pod,omitempty"`

	// interface where the suspicion was found.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Interface string `json:"interface,omitempty"`

	// rule is the route, iptables rule or policy that decided, as the snapshot holds it.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Rule string `json:"rule,omitempty"`

	// message says in a sentence what is wrong and what to do about it.
	// +required
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message"`
}

// HopType says what a hop is.
// +kubebuilder:validation:Enum=Pod;Node;Service;External
type HopType string

const (
	HopPod      HopType = "Pod"
	HopNode     HopType = "Node"
	HopService  HopType = "Service"
	HopExternal HopType = "External"
)

// Hop is a place the packet passes through.
type Hop struct {
	// id identifies the hop within the packet path; links refer to it.
	// +required
	// +kubebuilder:validation:MaxLength=320
	ID string `json:"id"`

	// type says what the hop is.
	// +required
	Type HopType `json:"type"`

	// name of the pod (namespace/name), node, service (namespace/name) or the address.
	// +required
	// +kubebuilder:validation:MaxLength=317
	Name string `json:"name"`

	// node the hop runs on, for a pod.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Node string `json:"node,omitempty"`

	// failed is true where the packet stops.
	// +optional
	Failed bool `json:"failed,omitempty"`
}

// Link is one step of the packet from a hop to the next.
type Link struct {
	// from is the id of the hop the packet leaves.
	// +required
	// +kubebuilder:validation:MaxLength=320
	From string `json:"from"`

	// to is the id of the hop the packet enters.
	// +required
	// +kubebuilder:validation:MaxLength=320
	To string `json:"to"`

	// type of the link: veth, bridge, vxlan, ipip, host (routed by the kernel), service (NAT
	// to an endpoint), external.
	// +required
	// +kubebuilder:validation:MaxLength=32
	Type string `json:"type"`

	// fromInterface is the interface the packet leaves by.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	FromInterface string `json:"fromInterface,omitempty"`

	// toInterface is the interface the packet enters by.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ToInterface string `json:"toInterface,omitempty"`

	// packet is the packet as it travels this link, after any NAT, e.g. "TCP 10.244.1.5:40000 -> 10.244.2.7:5432".
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Packet string `json:"packet,omitempty"`
}

// PacketPath is the way the packet takes: the hops and the links between them. A Service
// with several endpoints forks the path, one branch per endpoint.
type PacketPath struct {
	// hops the packet passes through.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=128
	Hops []Hop `json:"hops,omitempty"`

	// links between the hops.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	Links []Link `json:"links,omitempty"`

	// branches are the ways the packet takes, as a person reads them: each from the source
	// to where it ends, its hops forward and then its reply's, in the order they fork (one
	// per endpoint a Service chooses).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Branches []PathBranch `json:"branches,omitempty"`

	// truncated is true when hops, links or branches were cut to keep the status small.
	// +optional
	Truncated bool `json:"truncated,omitempty"`
}

// BranchEnd is how a branch of the packet's way ended.
// +kubebuilder:validation:Enum=Delivered;Dropped;Undecided
type BranchEnd string

const (
	// BranchDelivered: the packet arrived and, where one is expected, its reply came back.
	BranchDelivered BranchEnd = "Delivered"
	// BranchDropped: the state stops the packet or its reply; a suspicion says why.
	BranchDropped BranchEnd = "Dropped"
	// BranchUndecided: the engine cannot tell (missing state, a rule it does not understand).
	BranchUndecided BranchEnd = "Undecided"
)

// PathBranch is one way of the packet: where it goes, the share of new connections a
// Service sends there, how it ended, and its hops forward and back.
type PathBranch struct {
	// to is the hop the forward packet reaches last: the endpoint a Service chose, or where
	// the packet stops.
	// +required
	// +kubebuilder:validation:MaxLength=320
	To string `json:"to"`

	// share is the part of new connections the Service's choice sends this way, as a
	// percentage ("50%": kube-proxy's probability, or 1/n for a proxy that balances evenly);
	// empty when the packet did not fork.
	// +optional
	// +kubebuilder:validation:MaxLength=8
	Share string `json:"share,omitempty"`

	// end is how the branch ended at its last hop.
	// +required
	End BranchEnd `json:"end"`

	// why says in a few words why the branch ended there.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Why string `json:"why,omitempty"`

	// forward are the hops of the packet from the source to where it arrives or stops.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=40
	Forward []BranchHop `json:"forward,omitempty"`

	// reply are the hops of the destination's answer back to the source.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=40
	Reply []BranchHop `json:"reply,omitempty"`
}

// BranchHop is one hop of a branch and what it did with the branch's packet.
type BranchHop struct {
	// hop is the ID of the hop, as in hops.
	// +required
	// +kubebuilder:validation:MaxLength=320
	Hop string `json:"hop"`

	// did says what mattered at the hop: the interface the packet came in by, a translation
	// or a drop, the socket that took it, the interface it left by.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Did string `json:"did,omitempty"`

	// choice is the Service's choice made at this hop, e.g. "kube-proxy iptables DNAT to
	// 10.244.1.7:8080 (50% of new connections)".
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Choice string `json:"choice,omitempty"`

	// packet is the packet as the hop took it in (as it sent it, at the hop where the packet
	// or its reply starts), e.g. "TCP 10.244.1.5:40000 -> 10.96.0.10:5432".
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Packet string `json:"packet,omitempty"`

	// failed marks the hop where a branch that did not arrive stops.
	// +optional
	Failed bool `json:"failed,omitempty"`
}

// CollectorPhase is the state of one node's collector.
// +kubebuilder:validation:Enum=Pending;Running;Collected;Failed
type CollectorPhase string

const (
	CollectorPending   CollectorPhase = "Pending"
	CollectorRunning   CollectorPhase = "Running"
	CollectorCollected CollectorPhase = "Collected"
	CollectorFailed    CollectorPhase = "Failed"
)

// CollectorStatus reports one node's collector.
type CollectorStatus struct {
	// node the collector runs on.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Node string `json:"node"`

	// pod is the collector Pod's name, in the controller's namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Pod string `json:"pod,omitempty"`

	// phase of the collector.
	// +required
	Phase CollectorPhase `json:"phase"`

	// message says why a collector failed or what it waits for.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// reason is the machine-readable code of a failure: CollectorFailed, Timeout,
	// NodeNotReady or NodeGone.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Reason string `json:"reason,omitempty"`
}

// ProbeResult is what a real connection attempt from the source observed.
type ProbeResult struct {
	// reachable is true when the attempt got an answer.
	// +required
	Reachable bool `json:"reachable"`

	// message describes the outcome, e.g. "connected in 2ms" or "connection refused".
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// inconclusive is true when the attempt proves neither way: it could not be sent (the
	// source's namespace was not found), or a UDP datagram met silence, which an open port and
	// a dropping firewall both give.
	// +optional
	Inconclusive bool `json:"inconclusive,omitempty"`
}

// NetworkDiagnosisStatus is the answer and the lifecycle of a NetworkDiagnosis.
type NetworkDiagnosisStatus struct {
	// observedGeneration is the spec generation this status answers.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase is where the diagnosis is in its lifecycle.
	// +optional
	Phase Phase `json:"phase,omitempty"`

	// conditions are the standard conditions: Ready, EndpointsResolved, Admitted, Collected,
	// Diagnosed.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// startTime is when the controller started this generation's diagnosis.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when the diagnosis reached a final phase.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// source is the resolved source, as kind/name with its address, e.g. "pod/shop/web (10.244.1.5)".
	// +optional
	// +kubebuilder:validation:MaxLength=512
	SourceSummary string `json:"source,omitempty"`

	// destination is the resolved destination, as kind/name with its address.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	DestinationSummary string `json:"destination,omitempty"`

	// verdict says whether the traffic gets through.
	// +optional
	Verdict Verdict `json:"verdict,omitempty"`

	// where is the first hop where the packet stops, or the most severe suspicion's place.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Where string `json:"where,omitempty"`

	// why is the reason code of the suspicion that decided the verdict.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Why string `json:"why,omitempty"`

	// summary says the answer in one line.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Summary string `json:"summary,omitempty"`

	// remedy says what to do about the suspicion that decided the verdict, as the
	// documentation of its reason code says at its level.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Remedy string `json:"remedy,omitempty"`

	// suspicions found on the way, most severe first.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Suspicions []Suspicion `json:"suspicions,omitempty"`

	// packetPath is the way the packet takes.
	// +optional
	PacketPath *PacketPath `json:"packetPath,omitempty"`

	// collectors reports each node's collector.
	// +optional
	// +listType=map
	// +listMapKey=node
	// +kubebuilder:validation:MaxItems=256
	Collectors []CollectorStatus `json:"collectors,omitempty"`

	// probe is what a real connection attempt observed, when spec.probe is true.
	// +optional
	Probe *ProbeResult `json:"probe,omitempty"`
}

// Condition types.
const (
	// ConditionReady is True once the diagnosis reached a final phase with a result.
	ConditionReady = "Ready"
	// ConditionEndpointsResolved is True once source and destination were found.
	ConditionEndpointsResolved = "EndpointsResolved"
	// ConditionAdmitted is True once the diagnosis may start its collectors: the load caps
	// leave room for it and every node on its path is one collectors may run on. False
	// while it waits (phase Pending) or when it can never start (phase Failed).
	ConditionAdmitted = "Admitted"
	// ConditionCollected is True once every needed node reported its state.
	ConditionCollected = "Collected"
	// ConditionDiagnosed is True once the engine ran.
	ConditionDiagnosed = "Diagnosed"
	// ConditionSnapshotsKept is True once what the engine read is kept as a support bundle
	// (spec.keepSnapshots), False when keeping it failed; the answer stands either way.
	ConditionSnapshotsKept = "SnapshotsKept"
)

// Condition reasons. They are part of the API: scripts match on them.
const (
	// ReasonResolved: source and destination were found.
	ReasonResolved = "Resolved"
	// ReasonSourceNotFound: the source's pod or node does not exist.
	ReasonSourceNotFound = "SourceNotFound"
	// ReasonSourceNotReady: the source exists but cannot be diagnosed yet (no IP, not scheduled).
	ReasonSourceNotReady = "SourceNotReady"
	// ReasonDestNotFound: the destination's pod, node or service does not exist.
	ReasonDestNotFound = "DestinationNotFound"
	// ReasonDestNotReady: the destination exists but cannot be diagnosed (no IP, headless).
	ReasonDestNotReady = "DestinationNotReady"
	// ReasonInvalidSpec: the spec passed validation but still names no usable endpoint.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonCollecting: collectors are running.
	ReasonCollecting = "Collecting"
	// ReasonCollected: every collector uploaded its snapshot.
	ReasonCollected = "Collected"
	// ReasonCollectorFailed: a collector pod failed or uploaded an unreadable snapshot.
	ReasonCollectorFailed = "CollectorFailed"
	// ReasonTimeout: a collector did not report before spec.timeout.
	ReasonTimeout = "Timeout"
	// ReasonNodeNotReady: the collector's node is not Ready, so it was given up on at once.
	ReasonNodeNotReady = "NodeNotReady"
	// ReasonNodeGone: the collector's node was deleted, so it was given up on at once.
	ReasonNodeGone = "NodeGone"
	// ReasonAdmitted: the caps leave room for the diagnosis, and its collectors start.
	ReasonAdmitted = "Admitted"
	// ReasonNamespaceCapReached: as many diagnoses of the namespace as the manager's
	// --max-diagnoses-per-namespace allows are in flight; the diagnosis waits its turn.
	ReasonNamespaceCapReached = "NamespaceCapReached"
	// ReasonInFlightCapReached: as many diagnoses as the manager's --max-diagnoses allows
	// are in flight in the cluster; the diagnosis waits its turn.
	ReasonInFlightCapReached = "InFlightCapReached"
	// ReasonCollectorPodCapReached: the collectors the diagnosis needs would exceed the
	// manager's --max-collector-pods; it waits, or fails when it needs more than the cap.
	ReasonCollectorPodCapReached = "CollectorPodCapReached"
	// ReasonControlPlaneNode: the path crosses a control-plane node, where collectors run
	// only when the manager runs with --collector-tolerate-control-plane.
	ReasonControlPlaneNode = "ControlPlaneNode"
	// ReasonDiagnosed: the engine answered.
	ReasonDiagnosed = "Diagnosed"
	// ReasonSnapshotsKept: the support bundle is stored.
	ReasonSnapshotsKept = "SnapshotsKept"
	// ReasonKeepFailed: the support bundle could not be stored.
	ReasonKeepFailed = "KeepFailed"
	// ReasonEngineFailed: the engine could not answer at all.
	ReasonEngineFailed = "EngineFailed"
	// ReasonFinished: the diagnosis reached Succeeded.
	ReasonFinished = "Finished"
	// ReasonInProgress: the diagnosis is still running.
	ReasonInProgress = "InProgress"
	// ReasonSnapshotInvalid: a snapshot could not be decoded.
	ReasonSnapshotInvalid = "SnapshotInvalid"
	// ReasonPluginUnknown: the network plugin named is not one the controller simulates.
	ReasonPluginUnknown = "NetworkPluginUnknown"
	// ReasonPluginConfigInvalid: spec.networkPluginConfig has an option the plugin does not
	// have, or a value it does not accept.
	ReasonPluginConfigInvalid = "NetworkPluginConfigInvalid"
	// ReasonSpecChanged: the spec changed, so the diagnosis runs again (an event reason).
	ReasonSpecChanged = "SpecChanged"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=nd,categories=netdiag
// +kubebuilder:printcolumn:name="Source",type=string,JSONPath=`.status.source`
// +kubebuilder:printcolumn:name="Destination",type=string,JSONPath=`.status.destination`
// +kubebuilder:printcolumn:name="Port",type=integer,JSONPath=`.spec.port`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Verdict",type=string,JSONPath=`.status.verdict`
// +kubebuilder:printcolumn:name="Where",type=string,JSONPath=`.status.where`
// +kubebuilder:printcolumn:name="Why",type=string,JSONPath=`.status.why`
// +kubebuilder:printcolumn:name="Summary",type=string,JSONPath=`.status.summary`,priority=1
// +kubebuilder:printcolumn:name="Remedy",type=string,JSONPath=`.status.remedy`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// NetworkDiagnosis asks whether traffic gets from a source to a destination, and why not.
type NetworkDiagnosis struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the question.
	// +required
	Spec NetworkDiagnosisSpec `json:"spec"`

	// status is the answer.
	// +optional
	Status NetworkDiagnosisStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// NetworkDiagnosisList is a list of NetworkDiagnosis.
type NetworkDiagnosisList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NetworkDiagnosis `json:"items"`
}

func init() {
	SchemeBuilder.Register(&NetworkDiagnosis{}, &NetworkDiagnosisList{})
}
