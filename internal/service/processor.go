package service

import (
	"errors"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// Origin says where a packet comes from when it reaches the node's service rules; it picks
// the netfilter hook (OUTPUT for the host's own packets, PREROUTING otherwise) and decides
// whether an externalTrafficPolicy of Local applies.
type Origin string

const (
	// FromPod is a packet from a pod on this node, entering by the pod's veth.
	FromPod Origin = "Pod"
	// FromHost is a packet the node itself sends (a host-network pod, the kubelet, a probe).
	FromHost Origin = "Host"
	// FromOutside is a packet that arrives from another node or outside the cluster: a
	// NodePort, a load-balancer or external IP, or a pod on another node.
	FromOutside Origin = "Outside"
)

// Arrival is a packet as it reaches one node's service proxy.
type Arrival struct {
	// Node is the node whose rules translate the packet; Stack is that node's own namespace.
	Node  string
	Stack *netstack.Netstack
	// Packet is the packet before translation.
	Packet model.Packet
	Origin Origin
	// InInterface is the interface the packet came in by, when known (for -i matches).
	InInterface string
}

// Processor follows a packet through one node's service proxy. Process never fails on what
// the snapshot holds: an unreadable or unfamiliar ruleset becomes an Undecided branch with a
// suspicion; the error is kept for unusable input (no stack, no cluster snapshot).
type Processor interface {
	Process(snap *cluster.Snapshot, a Arrival) (*Result, error)
}

// New returns a Processor that detects each node's kube-proxy mode from its state and keeps
// each node's parsed rules for the next packet. One Processor serves a whole diagnosis; it is
// safe for concurrent use.
func New() Processor {
	return &dispatcher{nf: &netfilterProcessor{parsed: map[*netstack.Netstack]parsedRules{}}}
}

type dispatcher struct {
	nf *netfilterProcessor
}

func (d *dispatcher) Process(snap *cluster.Snapshot, a Arrival) (*Result, error) {
	switch mode := DetectMode(a.Stack); mode {
	case ModeIPVS:
		return ipvsProcessor{}.Process(snap, a)
	default:
		// iptables and nftables mode are netfilter rules, walked by the same evaluator;
		// without kube-proxy's rules (ModeNone) the node's other rules still decide, and
		// nothing translates.
		return d.nf.process(snap, a, mode)
	}
}

// Outcome is how one branch of the packet leaves the service proxy.
type Outcome string

const (
	// Translated: DNAT to an endpoint; Branch.Packet is the translated packet.
	Translated Outcome = "Translated"
	// Untranslated: no service rule applied; the packet goes on as it was.
	Untranslated Outcome = "Untranslated"
	// Rejected and Dropped: a rule stopped the packet (Branch.Rule says which).
	Rejected Outcome = "Rejected"
	Dropped  Outcome = "Dropped"
	// Undecided: the engine cannot tell (a rule it does not understand, unreadable state).
	Undecided Outcome = "Undecided"
)

// AddressKind says which of a service's addresses a packet was sent to.
type AddressKind string

const (
	ClusterIP      AddressKind = "ClusterIP"
	ExternalIP     AddressKind = "ExternalIP"
	LoadBalancerIP AddressKind = "LoadBalancerIP"
	NodePort       AddressKind = "NodePort"
)

// Branch is one way the packet leaves the service proxy. A service with n endpoints forks the
// packet into n branches whose probabilities add up to one.
type Branch struct {
	Outcome Outcome
	// Packet is the packet after the proxy (translated for Translated).
	Packet model.Packet
	// Endpoint is the owner of the translated destination (a pod, a node, or an external
	// address); zero unless Translated.
	Endpoint model.Endpoint
	// Local is set when the endpoint is a pod on this node.
	Local bool
	// Probability is the share of new connections that take this branch.
	Probability float64
	// Masquerade is set when the rules marked the packet for SNAT to the node's address on
	// its way out (KUBE-MARK-MASQ): the endpoint then sees the node, not the client.
	Masquerade bool
	// Hairpin is set when the endpoint is the client itself (a pod reaching itself through
	// its service).
	Hairpin bool
	// Pinned is set when the rules chose the endpoint by the client's session affinity (an
	// earlier connection put the client on the endpoint's list), not by chance: every
	// connection of this client takes this branch until the affinity times out.
	Pinned bool
	// Rule is the rule that decided (the DNAT, DROP or REJECT), as the snapshot holds it.
	Rule string
	// Rules is the evidence: every rule that matched on the way, in order, with its chain.
	Rules []string
	// Steps explain the branch for the packet path.
	Steps []model.Step
	// Suspicions are what was found wrong on this branch only.
	Suspicions []model.Suspicion

	// Pass is the index of the pass Explain read the branch from.
	Pass int

	// dnat is set when the proxy translated the packet, even if a later rule stopped it;
	// decider is the netfilter rule Rule prints (nil in ipvs mode); noEndpoints is set when
	// the walk took kube-proxy's nftables verdict for a service without endpoints, and
	// unknownPort when kube-proxy's nftables rules stopped it as addressed to a cluster IP's
	// port they do not know; pinRule is the rule that found the client on pinList, the
	// endpoint's affinity list (iptables) or set (nftables).
	dnat        bool
	decider     nf.Rule
	pinRule     string
	pinList     string
	noEndpoints bool
	unknownPort bool
}

// Result is what one node's service proxy does with one packet.
type Result struct {
	Mode Mode
	// Service is the service the destination address belongs to (nil when it is none);
	// Port is the service port the packet's port selects (nil when none does).
	Service *corev1.Service
	Port    *corev1.ServicePort
	Kind    AddressKind
	// Endpoints are the endpoints the EndpointSlices ask this node to use for this packet
	// (after ready/serving/terminating and traffic-policy selection), as IP:port.
	Endpoints []netip.AddrPort
	Branches  []Branch
	// Suspicions concern the service as a whole; branch-specific ones are on the branch.
	Suspicions []model.Suspicion
}

// AllSuspicions returns the result's and every branch's suspicions.
func (r *Result) AllSuspicions() []model.Suspicion {
	out := append([]model.Suspicion(nil), r.Suspicions...)
	for _, b := range r.Branches {
		out = append(out, b.Suspicions...)
	}
	return out
}

func checkArrival(snap *cluster.Snapshot, a Arrival) error {
	if snap == nil {
		return errors.New("service: no cluster snapshot")
	}
	if a.Stack == nil {
		return fmt.Errorf("service: node %s has no collected state", a.Node)
	}
	if !a.Packet.Dst.IsValid() {
		return fmt.Errorf("service: packet %s has no destination", a.Packet)
	}
	return nil
}
