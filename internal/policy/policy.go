package policy

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
)

// Peer is one end of the traffic: a pod of the snapshot, a node, or an address.
type Peer struct {
	// Pod is the pod, or nil for a node or an address. A host-network pod is taken as its
	// node: policies neither select it nor match it by pod or namespace selector.
	Pod *corev1.Pod
	// Node names the node when the peer is a node (or a host-network pod's node).
	Node string
	// IP is the address in the packet. For a pod it defaults to the pod's primary IP.
	IP netip.Addr
}

// PodPeer returns the pod as a peer with its primary IP.
func PodPeer(pod *corev1.Pod) Peer {
	p := Peer{Pod: pod}
	if ip, err := netip.ParseAddr(pod.Status.PodIP); err == nil {
		p.IP = ip.Unmap()
	}
	if pod.Spec.HostNetwork {
		p.Node = pod.Spec.NodeName
	}
	return p
}

// NodePeer returns the node with the address it sends from or receives on.
func NodePeer(name string, ip netip.Addr) Peer { return Peer{Node: name, IP: ip.Unmap()} }

// IPPeer returns an address outside the snapshot's pods and nodes. To have an address
// that belongs to a pod or node treated as that pod or node, use PeerFor.
func IPPeer(ip netip.Addr) Peer { return Peer{IP: ip.Unmap()} }

// PeerFor turns a resolved endpoint into a peer. A Service is no peer: policies see the
// packet after kube-proxy translated it, so the caller evaluates each backend pod instead.
func PeerFor(snap *cluster.Snapshot, ep model.Endpoint) (Peer, error) {
	switch ep.Type {
	case model.EndpointPod:
		pod := snap.Pod(ep.Namespace, ep.Name)
		if pod == nil {
			return Peer{}, fmt.Errorf("pod %s/%s: %w", ep.Namespace, ep.Name, cluster.ErrNotFound)
		}
		p := PodPeer(pod)
		if ep.IP.IsValid() {
			p.IP = ep.IP.Unmap()
		}
		return p, nil
	case model.EndpointNode:
		return NodePeer(ep.Name, ep.IP), nil
	case model.EndpointService:
		return Peer{}, fmt.Errorf("service %s/%s: NetworkPolicy applies to the backend pods after translation, not to the service", ep.Namespace, ep.Name)
	}
	if owner, ok := snap.IPCache().Lookup(ep.IP); ok && owner.Type != model.EndpointService {
		owner.IP = ep.IP
		return PeerFor(snap, owner)
	}
	return IPPeer(ep.IP), nil
}

// String names the peer as a person reads it.
func (p Peer) String() string {
	switch {
	case p.Pod != nil && p.Pod.Spec.HostNetwork:
		return fmt.Sprintf("host-network pod %s/%s on node %s", p.Pod.Namespace, p.Pod.Name, p.Pod.Spec.NodeName)
	case p.Pod != nil:
		return fmt.Sprintf("pod %s/%s", p.Pod.Namespace, p.Pod.Name)
	case p.Node != "":
		return "node " + p.Node
	}
	return "address " + p.IP.String()
}

// PolicyRef names a NetworkPolicy.
type PolicyRef struct {
	Namespace string
	Name      string
}

func (r PolicyRef) String() string { return r.Namespace + "/" + r.Name }

// Match is one rule that allows the traffic: the policy and the index of the rule in its
// ingress or egress list.
type Match struct {
	Policy PolicyRef
	Rule   int
}

// Direction is Ingress or Egress.
type Direction string

const (
	Ingress Direction = "Ingress"
	Egress  Direction = "Egress"
)

// Verdict is the decision in one direction: egress at the source, ingress at the
// destination.
type Verdict struct {
	Direction Direction
	// Applies is false when that end is no pod that policies select (a node, a host-network
	// pod, an address outside the cluster); Allowed is then true.
	Applies bool
	// Isolated is true when some policy selects the pod for this direction.
	Isolated bool
	Allowed  bool
	// FromLocalNode is true when ingress is allowed because the source is the pod's own node,
	// which the API always allows.
	FromLocalNode bool
	// AllowedBy holds every rule that allows the traffic, sorted.
	AllowedBy []Match
	// IsolatedBy holds the policies that select the pod for this direction, sorted. When
	// nothing allows the traffic, these are the policies that deny it.
	IsolatedBy []PolicyRef
	// Tiers places NetworkPolicy among the cluster-wide tiers (admin.go); Allowed is then
	// the answer of the tier that decided.
	Tiers AdminVerdict
}

// Decision is what NetworkPolicy does with one packet.
type Decision struct {
	// Allowed is true when both egress at the source and ingress at the destination allow.
	Allowed  bool
	Egress   Verdict
	Ingress  Verdict
	Protocol model.Protocol
	Port     uint16
	// Notes say where the answer rests on something the snapshot lacks or the API would
	// have rejected (a namespace missing from the snapshot, a selector that does not parse).
	Notes []string
}

// Denied returns the verdicts that deny, egress first.
func (d Decision) Denied() []Verdict {
	var out []Verdict
	for _, v := range []Verdict{d.Egress, d.Ingress} {
		if !v.Allowed {
			out = append(out, v)
		}
	}
	return out
}

// Explain says in one sentence why the direction allows or denies.
func (v Verdict) Explain() string {
	if s, ok := v.explainTiers(); ok {
		return s
	}
	dir := strings.ToLower(string(v.Direction))
	switch {
	case !v.Applies:
		return fmt.Sprintf("%s: no pod that NetworkPolicy selects", dir)
	case !v.Isolated:
		return fmt.Sprintf("%s: no NetworkPolicy selects the pod, so it is not isolated", dir)
	case v.FromLocalNode:
		return "ingress: allowed from the pod's own node"
	case v.Allowed:
		return fmt.Sprintf("%s: allowed by %s", dir, joinMatches(v.Direction, v.AllowedBy))
	}
	return fmt.Sprintf("%s: denied: isolated by %s and no rule there allows it", dir, joinRefs(v.IsolatedBy))
}

func joinMatches(dir Direction, ms []Match) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = fmt.Sprintf("%s (%s rule %d)", m.Policy, strings.ToLower(string(dir)), m.Rule)
	}
	return strings.Join(parts, ", ")
}

func joinRefs(refs []PolicyRef) string {
	parts := make([]string, len(refs))
	for i, r := range refs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

// Evaluator answers many questions on one snapshot. A question costs the policies of the two
// namespaces involved, not those of the cluster: a namespace's policies are found through the
// snapshot's index and compiled the first time a pod there is evaluated. It is safe for
// concurrent use; the snapshot must not change while it is in use.
type Evaluator struct {
	snap *cluster.Snapshot

	mu       sync.Mutex
	compiled map[string][]*compiledPolicy
	nsLabels map[string]namespaceLabels
	admin    adminTiers
}

type namespaceLabels struct {
	set   labels.Set
	found bool
}

// NewEvaluator returns an evaluator over the snapshot's NetworkPolicies.
func NewEvaluator(snap *cluster.Snapshot) *Evaluator {
	return &Evaluator{snap: snap, compiled: map[string][]*compiledPolicy{}, nsLabels: map[string]namespaceLabels{}}
}

// Evaluate decides one packet on the snapshot. Callers with many questions on one snapshot
// use an Evaluator.
func Evaluate(snap *cluster.Snapshot, src, dst Peer, proto model.Protocol, port uint16) Decision {
	return NewEvaluator(snap).Evaluate(src, dst, proto, port)
}

// policies returns the compiled policies of the namespace, compiling them on first use.
func (e *Evaluator) policies(ns string) []*compiledPolicy {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.compiled[ns]; ok {
		return c
	}
	var c []*compiledPolicy
	for _, np := range e.snap.NetworkPoliciesIn(ns) {
		c = append(c, compile(np))
	}
	e.compiled[ns] = c
	return c
}

// namespaceLabels returns the namespace's labels and whether the snapshot has the namespace.
// The kubernetes.io/metadata.name label is always there, as the API server always sets it.
func (e *Evaluator) namespaceLabels(ns string) (labels.Set, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if l, ok := e.nsLabels[ns]; ok {
		return l.set, l.found
	}
	l := namespaceLabels{set: labels.Set{corev1.LabelMetadataName: ns}}
	if n := e.snap.Namespace(ns); n != nil {
		l.found = true
		if n.Labels[corev1.LabelMetadataName] == ns {
			l.set = n.Labels
		} else {
			// Fixtures written by hand may omit the label; the copy keeps the snapshot unchanged.
			l.set = make(labels.Set, len(n.Labels)+1)
			maps.Copy(l.set, n.Labels)
			l.set[corev1.LabelMetadataName] = ns
		}
	}
	e.nsLabels[ns] = l
	return l.set, l.found
}

// endpoint is a peer as the rules see it.
type endpoint struct {
	// pod is set only for pod-network pods: the only pods selectors match.
	pod  *corev1.Pod
	node string
	ip   netip.Addr
	e    *Evaluator
	ev   *evaluation
	// ns caches the pod's namespace labels: the cluster-wide tiers ask for them often.
	ns labels.Set
}

func (p *endpoint) nsLabels() labels.Set {
	if p.ns != nil {
		return p.ns
	}
	set, found := p.e.namespaceLabels(p.pod.Namespace)
	if !found {
		p.ev.note(fmt.Sprintf("Namespace %s is not in the snapshot; its namespaceSelector matches use only the %s label", p.pod.Namespace, corev1.LabelMetadataName))
	}
	p.ns = set
	return set
}

// evaluation gathers notes without duplicates.
type evaluation struct {
	notes []string
}

func (ev *evaluation) note(s string) {
	if !slices.Contains(ev.notes, s) {
		ev.notes = append(ev.notes, s)
	}
}

func (e *Evaluator) endpoint(p Peer, ev *evaluation) *endpoint {
	out := &endpoint{node: p.Node, ip: p.IP.Unmap(), e: e, ev: ev}
	if p.Pod != nil {
		if p.Pod.Spec.HostNetwork {
			out.node = cmp.Or(out.node, p.Pod.Spec.NodeName)
		} else {
			out.pod = p.Pod
		}
		if !out.ip.IsValid() {
			if ip, err := netip.ParseAddr(p.Pod.Status.PodIP); err == nil {
				out.ip = ip.Unmap()
			}
		}
	}
	return out
}

// Evaluate decides one packet from src to dst. port is the destination port (ignored for
// ICMP, which only a rule without ports allows). The snapshot's AdminNetworkPolicies,
// BaselineAdminNetworkPolicies and ClusterNetworkPolicies decide in their tiers around
// NetworkPolicy.
func (e *Evaluator) Evaluate(src, dst Peer, proto model.Protocol, port uint16) Decision {
	return e.evaluate(src, dst, proto, port, true)
}

func (e *Evaluator) evaluate(src, dst Peer, proto model.Protocol, port uint16, tiers bool) Decision {
	ev := &evaluation{}
	s, d := e.endpoint(src, ev), e.endpoint(dst, ev)
	dec := Decision{Protocol: proto, Port: port}
	dec.Egress = e.direction(Egress, s, d, proto, port, ev)
	dec.Ingress = e.direction(Ingress, d, s, proto, port, ev)
	if tiers {
		e.applyTiers(&dec.Egress, s, d, proto, port, ev)
		e.applyTiers(&dec.Ingress, d, s, proto, port, ev)
	}
	dec.Allowed = dec.Egress.Allowed && dec.Ingress.Allowed
	dec.Notes = ev.notes
	return dec
}

// direction decides for the pod at self, with other on the far side.
func (e *Evaluator) direction(dir Direction, self, other *endpoint, proto model.Protocol, port uint16, ev *evaluation) Verdict {
	v := Verdict{Direction: dir, Allowed: true}
	if self.pod == nil {
		return v
	}
	v.Applies = true
	// Named ports are the destination pod's: for ingress that is self, for egress the far side.
	dstPod := self.pod
	if dir == Egress {
		dstPod = other.pod
	}
	for _, c := range e.policies(self.pod.Namespace) {
		for _, p := range c.problems {
			ev.note(p)
		}
		if !c.selects(self.pod) {
			continue
		}
		rules := c.ingressRule
		applies := c.ingress
		if dir == Egress {
			rules, applies = c.egressRule, c.egress
		}
		if !applies {
			continue
		}
		v.IsolatedBy = append(v.IsolatedBy, c.ref)
		for i := range rules {
			if rules[i].matches(c.ref.Namespace, other, proto, port, dstPod) {
				v.AllowedBy = append(v.AllowedBy, Match{Policy: c.ref, Rule: i})
			}
		}
	}
	v.Isolated = len(v.IsolatedBy) > 0
	slices.SortFunc(v.IsolatedBy, comparePolicyRef)
	slices.SortFunc(v.AllowedBy, func(a, b Match) int {
		return cmp.Or(comparePolicyRef(a.Policy, b.Policy), cmp.Compare(a.Rule, b.Rule))
	})
	if dir == Ingress && other.node != "" && other.node == self.pod.Spec.NodeName {
		v.FromLocalNode = v.Isolated
	}
	v.Allowed = !v.Isolated || len(v.AllowedBy) > 0 || v.FromLocalNode
	return v
}

func comparePolicyRef(a, b PolicyRef) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}
