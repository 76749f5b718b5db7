package plugin

import (
	"net/netip"
	"sync"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/iptables"
	"github.com/netdiag/netdiag/internal/policy"
	"github.com/netdiag/netdiag/internal/service"
)

// ConnState is the conntrack state a packet has when the rules see it.
type ConnState string

const (
	ConnNew         ConnState = "NEW"
	ConnEstablished ConnState = "ESTABLISHED"
)

// Netfilter hooks, in the kernel's names.
const (
	HookPrerouting  = "PREROUTING"
	HookInput       = "INPUT"
	HookForward     = "FORWARD"
	HookOutput      = "OUTPUT"
	HookPostrouting = "POSTROUTING"
)

// NFVerdict is the outcome of one branch through a hook.
type NFVerdict string

const (
	NFAccept  NFVerdict = "ACCEPT"
	NFDrop    NFVerdict = "DROP"
	NFReject  NFVerdict = "REJECT"
	NFUnknown NFVerdict = "UNKNOWN"
)

// NFOutcome is one branch of a packet through a hook: a load-balancing rule makes one per
// endpoint.
type NFOutcome struct {
	Verdict NFVerdict
	// Packet is the packet after the hook: NAT rewrites addresses and ports, MARK the mark.
	Packet model.Packet
	// Rule is the rule that decided (the DROP, the DNAT), as iptables-save prints it.
	Rule string
	// Trace is the chain path, one line per rule that matched.
	Trace []string
	// NotUnderstood holds the rules on the way whose match or target the evaluator does not
	// know; a verdict of UNKNOWN names the one that decided.
	NotUnderstood []string
	// Probability is the share of packets that take this branch (1 without forks).
	Probability float64
	// Eval is the iptables evaluator's own outcome, for what explains it further (the
	// service processor reads the NAT and the rules from it); nil from other evaluators.
	Eval *iptables.Outcome
}

// Netfilter evaluates packets through one network namespace's rules.
type Netfilter interface {
	// Hook runs pkt through every table attached to hook, in the kernel's order, with in and
	// out the interfaces the kernel knows at that hook.
	Hook(hook string, pkt model.Packet, in, out string, state ConnState) []NFOutcome
}

// NetfilterFactory builds the evaluator of a namespace's rules; an error is reported as a
// suspicion and the hooks of that namespace are then not evaluated.
type NetfilterFactory func(stack *netstack.Netstack) (Netfilter, error)

// Env is what every NetNode of one diagnosis shares: the snapshot and the evaluators.
type Env struct {
	Cluster  *cluster.Snapshot
	Nodes    map[string]*netstack.NodeSnapshot
	Question model.Question
	// Netfilter builds rule evaluators; nil leaves the hooks unevaluated (with an Info).
	Netfilter NetfilterFactory
	// Policy evaluates NetworkPolicy; nil skips it.
	Policy *policy.Evaluator
	// Services explains what a node's service proxy does with a packet addressed to a
	// service, and translates it where netfilter does not (ipvs); nil leaves the
	// translation to the netfilter hooks alone, unexplained.
	Services service.Processor
	// EnforcesPolicy is the plugin's word on whether policy decides.
	EnforcesPolicy bool

	once     sync.Once
	owners   map[netip.Addr]addrOwner
	podStack map[string]*netstack.Netstack
	mu       sync.Mutex
	filters  map[*netstack.Netstack]filterEntry
	// conntrack holds, per NetNode ID, how the forward packets entered and left it.
	conntrack map[string][]natEntry
}

// natEntry is one translation a NetNode made: the packet as it came in and as it left.
type natEntry struct{ in, out model.Packet }

func sameTuple(a, b model.Packet) bool {
	return a.Src == b.Src && a.Dst == b.Dst && a.SrcPort == b.SrcPort && a.DstPort == b.DstPort && a.Protocol == b.Protocol
}

// track records that the forward packet in left the NetNode as out, when NAT changed it.
func (e *Env) track(node string, in, out model.Packet) {
	if sameTuple(in, out) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conntrack == nil {
		e.conntrack = map[string][]natEntry{}
	}
	for _, x := range e.conntrack[node] {
		if sameTuple(x.in, in) && sameTuple(x.out, out) {
			return
		}
	}
	e.conntrack[node] = append(e.conntrack[node], natEntry{in, out})
}

// untrack finds the translation a reply belongs to at a NetNode: the reply of a packet that
// left as out comes back as out's reply.
func (e *Env) untrack(node string, reply model.Packet) (natEntry, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, x := range e.conntrack[node] {
		if sameTuple(x.out.Reply(), reply) {
			return x, true
		}
	}
	return natEntry{}, false
}

// undoDst is conntrack's reply translation before routing (PREROUTING, OUTPUT): a
// masqueraded or SNATed connection's reply is addressed back to the original source.
func (e *Env) undoDst(node string, reply model.Packet) model.Packet {
	if x, ok := e.untrack(node, reply); ok {
		reply.Dst, reply.DstPort = x.in.Src, x.in.SrcPort
	}
	return reply
}

// undoSrc is conntrack's reply translation on the way out (POSTROUTING): a DNATed
// connection's reply leaves from the address the client asked for, the service's.
func (e *Env) undoSrc(node string, reply model.Packet) model.Packet {
	for _, x := range e.snapshotEntries(node) {
		o := x.out.Reply()
		if reply.Src == o.Src && reply.SrcPort == o.SrcPort && reply.Protocol == o.Protocol && reply.Dst == x.in.Src && reply.DstPort == x.in.SrcPort {
			reply.Src, reply.SrcPort = x.in.Dst, x.in.DstPort
		}
	}
	return reply
}

func (e *Env) snapshotEntries(node string) []natEntry {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]natEntry(nil), e.conntrack[node]...)
}

type addrOwner struct {
	node string
	// pod is set when the address is inside a pod's namespace.
	pod   *netstack.PodRef
	iface string
}

type filterEntry struct {
	nf  Netfilter
	err error
}

func (e *Env) index() {
	e.once.Do(func() {
		e.owners = map[netip.Addr]addrOwner{}
		e.podStack = map[string]*netstack.Netstack{}
		e.filters = map[*netstack.Netstack]filterEntry{}
		for name, ns := range e.Nodes {
			if ns == nil {
				continue
			}
			for _, ifc := range ns.Host.Interfaces {
				if ifc.Kind == "loopback" {
					continue
				}
				for _, p := range ifc.Addresses {
					e.owners[p.Addr()] = addrOwner{node: name, iface: ifc.Name}
				}
			}
			for i := range ns.Pods {
				ps := &ns.Pods[i]
				if ps.Pod == nil {
					continue
				}
				e.podStack[ps.Pod.Namespace+"/"+ps.Pod.Name] = ps
			}
		}
	})
}

// NodeStack returns the node's own namespace, or nil when the node was not collected.
func (e *Env) NodeStack(node string) *netstack.Netstack {
	ns := e.Nodes[node]
	if ns == nil {
		return nil
	}
	return &ns.Host
}

// PodStack returns a pod's namespace, or nil when it was not collected.
func (e *Env) PodStack(namespace, name string) *netstack.Netstack {
	e.index()
	return e.podStack[namespace+"/"+name]
}

// NodeOf returns the node that holds addr on one of its own interfaces, from the collected
// state first and the Node objects second.
func (e *Env) NodeOf(addr netip.Addr) (string, bool) {
	e.index()
	if o, ok := e.owners[addr]; ok {
		return o.node, true
	}
	if ep, ok := e.Cluster.IPCache().Lookup(addr); ok && ep.Type == model.EndpointNode {
		return ep.Name, true
	}
	return "", false
}

// filter returns the netfilter evaluator of stack, built once.
func (e *Env) filter(stack *netstack.Netstack) (Netfilter, error) {
	e.index()
	if e.Netfilter == nil {
		return nil, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if f, ok := e.filters[stack]; ok {
		return f.nf, f.err
	}
	nf, err := e.Netfilter(stack)
	e.filters[stack] = filterEntry{nf, err}
	return nf, err
}
