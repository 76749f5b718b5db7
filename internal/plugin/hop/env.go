package hop

import (
	"net/netip"
	"slices"
	"sync"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/nf"
	"github.com/netdiag/netdiag/internal/policy"
	"github.com/netdiag/netdiag/internal/service"
)

// Netfilter evaluates packets through one network namespace's rules.
type Netfilter interface {
	// Traverse runs pkt through everything attached to hook (iptables' tables and nftables'
	// base chains) in the kernel's order, and returns every way it goes (a load-balancing
	// rule makes one per endpoint). pkt carries the interfaces the kernel knows at that hook
	// and the packet's connection in this namespace. *netfilter.Rules is one.
	Traverse(hook nf.Hook, pkt nf.Packet) []nf.Outcome
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
	// EnforcesAdminPolicy is the plugin's word on whether AdminNetworkPolicy,
	// BaselineAdminNetworkPolicy and ClusterNetworkPolicy decide too.
	EnforcesAdminPolicy bool

	once     sync.Once
	owners   map[netip.Addr]addrOwner
	podStack map[string]*netstack.Netstack
	mu       sync.Mutex
	filters  map[*netstack.Netstack]filterEntry
	// announced holds the namespaces whose rules not understood were already reported.
	announced map[*netstack.Netstack]bool
	notes     []model.Suspicion
	// conns is each NetNode's conntrack table: the connections the forward packets left it
	// with, so that a reply arriving there is evaluated with its connection and the
	// evaluator's nat stages reverse the NAT, as the kernel's conntrack does.
	conns map[string][]connEntry
}

// connEntry is a connection a forward packet left a NetNode with, and the packet as it left.
type connEntry struct {
	left model.Packet
	conn nf.Conn
}

func sameTuple(a, b model.Packet) bool {
	return a.Src == b.Src && a.Dst == b.Dst && a.SrcPort == b.SrcPort && a.DstPort == b.DstPort && a.Protocol == b.Protocol
}

// remember records the connection the forward packet left a NetNode with.
func (e *Env) remember(node string, left model.Packet, conn nf.Conn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conns == nil {
		e.conns = map[string][]connEntry{}
	}
	for i, x := range e.conns[node] {
		if sameTuple(x.left, left) {
			e.conns[node][i].conn = conn
			return
		}
	}
	e.conns[node] = append(e.conns[node], connEntry{left, conn})
}

// replyConn is the connection a reply arriving at a NetNode belongs to, in the reply
// direction and ESTABLISHED: the one whose forward packet left as the reply's reverse, or a
// connection without NAT when the NetNode has none (its forward packet was not seen there).
func (e *Env) replyConn(node string, reply model.Packet) nf.Conn {
	e.mu.Lock()
	var conn nf.Conn
	for _, x := range e.conns[node] {
		if sameTuple(x.left.Reply(), reply) {
			conn = x.conn
			break
		}
	}
	e.mu.Unlock()
	return nf.Packet{Conn: conn}.Reply().Conn
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

// Filter returns the netfilter evaluator of stack, built once per diagnosis; nil without a
// factory.
func (e *Env) Filter(stack *netstack.Netstack) (Netfilter, error) {
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

// announce reports whether this is the first time the diagnosis evaluates stack's rules, so
// that what is known of them as a whole (the rules not understood) is said once.
func (e *Env) announce(stack *netstack.Netstack) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.announced[stack] {
		return false
	}
	if e.announced == nil {
		e.announced = map[*netstack.Netstack]bool{}
	}
	e.announced[stack] = true
	return true
}

// note records what is found of the state as a whole rather than on a branch of the walk.
func (e *Env) note(s model.Suspicion) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.notes = append(e.notes, s)
}

// Notes are the findings about the state as a whole (the rules its parsers could not read),
// in the order they were made. They inform, and do not weigh in the verdict.
func (e *Env) Notes() []model.Suspicion {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.notes)
}
