package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
)

// gen builds random but valid clusters and policies from a seed, over a small vocabulary of
// labels so that selectors often match.
type gen struct{ r *rand.Rand }

func newGen(seed uint64) *gen { return &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} }

func (g *gen) pick(s ...string) string { return s[g.r.IntN(len(s))] }

var (
	genNamespaces = []string{"ns-a", "ns-b", "ns-c"}
	genNodes      = map[string]string{"n1": "192.168.1.1", "n2": "192.168.1.2"}
	genExternal   = []string{"203.0.113.9", "198.51.100.20"}
	genTraffic    = []struct {
		proto model.Protocol
		port  uint16
	}{{model.TCP, 80}, {model.TCP, 8080}, {model.TCP, 8443}, {model.UDP, 53}, {model.SCTP, 9000}, {model.ICMP, 0}}
)

func (g *gen) cluster() *cluster.Snapshot {
	snap := &cluster.Snapshot{}
	for name, ip := range genNodes {
		snap.Nodes = append(snap.Nodes, makeNode(name, ip))
	}
	for i, ns := range genNamespaces {
		var kv []string
		if g.r.IntN(2) == 0 {
			kv = append(kv, "env", g.pick("dev", "prod"))
		}
		if g.r.IntN(2) == 0 {
			kv = append(kv, "team", g.pick("red", "blue"))
		}
		snap.Namespaces = append(snap.Namespaces, makeNamespace(ns, kv...))
		for j := range 2 + g.r.IntN(3) {
			b := makePod(ns, fmt.Sprintf("p%d", j)).labels("app", g.pick("web", "api", "db")).node(g.pick("n1", "n2"))
			if g.r.IntN(2) == 0 {
				b.labels("tier", g.pick("front", "back"))
			}
			if g.r.IntN(8) == 0 {
				b.hostNetwork().ip(genNodes[b.pod.Spec.NodeName])
			} else {
				b.ip(fmt.Sprintf("10.%d.0.%d", i+1, j+1))
			}
			b.port("http", []int32{80, 8080}[g.r.IntN(2)], corev1.ProtocolTCP)
			b.port("dns", 53, corev1.ProtocolUDP)
			snap.Pods = append(snap.Pods, b.obj())
		}
	}
	for i := range 1 + g.r.IntN(6) {
		snap.NetworkPolicies = append(snap.NetworkPolicies, g.policy(fmt.Sprintf("np%d", i), g.pick(genNamespaces...)))
	}
	return snap
}

func (g *gen) selector() *metav1.LabelSelector {
	switch g.r.IntN(5) {
	case 0:
		return &metav1.LabelSelector{}
	case 1:
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: g.pick("app", "tier"), Operator: metav1.LabelSelectorOpNotIn, Values: []string{g.pick("web", "api", "front")},
		}}}
	case 2:
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: g.pick("tier", "env", "team"), Operator: metav1.LabelSelectorOperator(g.pick(string(metav1.LabelSelectorOpExists), string(metav1.LabelSelectorOpDoesNotExist))),
		}}}
	}
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": g.pick("web", "api", "db")}}
}

func (g *gen) nsSelector() *metav1.LabelSelector {
	switch g.r.IntN(4) {
	case 0:
		return &metav1.LabelSelector{}
	case 1:
		return &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: g.pick(genNamespaces...)}}
	case 2:
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: metav1.LabelSelectorOpIn, Values: []string{g.pick("dev", "prod")}}}}
	}
	return &metav1.LabelSelector{MatchLabels: map[string]string{"team": g.pick("red", "blue")}}
}

func (g *gen) peer() networkingv1.NetworkPolicyPeer {
	switch g.r.IntN(4) {
	case 0:
		return networkingv1.NetworkPolicyPeer{PodSelector: g.selector()}
	case 1:
		return networkingv1.NetworkPolicyPeer{NamespaceSelector: g.nsSelector()}
	case 2:
		return networkingv1.NetworkPolicyPeer{PodSelector: g.selector(), NamespaceSelector: g.nsSelector()}
	}
	b := &networkingv1.IPBlock{CIDR: g.pick("10.0.0.0/8", "10.1.0.0/16", "192.168.1.0/24", "203.0.113.0/24", "0.0.0.0/0")}
	if g.r.IntN(2) == 0 {
		switch b.CIDR {
		case "10.0.0.0/8", "0.0.0.0/0":
			b.Except = []string{"10.2.0.0/16"}
		case "192.168.1.0/24":
			b.Except = []string{"192.168.1.2/32"}
		}
	}
	return networkingv1.NetworkPolicyPeer{IPBlock: b}
}

func (g *gen) port() networkingv1.NetworkPolicyPort {
	var p networkingv1.NetworkPolicyPort
	if g.r.IntN(3) == 0 {
		proto := corev1.Protocol(g.pick("TCP", "UDP", "SCTP"))
		p.Protocol = &proto
	}
	switch g.r.IntN(4) {
	case 0:
		v := intstr.FromInt32([]int32{80, 53, 9000, 8080}[g.r.IntN(4)])
		p.Port = &v
	case 1:
		v := intstr.FromString(g.pick("http", "dns"))
		p.Port = &v
	case 2:
		v := intstr.FromInt32(8000)
		end := int32(8500)
		p.Port, p.EndPort = &v, &end
	}
	return p
}

func (g *gen) peers() []networkingv1.NetworkPolicyPeer {
	var out []networkingv1.NetworkPolicyPeer
	for range g.r.IntN(3) {
		out = append(out, g.peer())
	}
	return out
}

func (g *gen) ports() []networkingv1.NetworkPolicyPort {
	var out []networkingv1.NetworkPolicyPort
	for range g.r.IntN(3) {
		out = append(out, g.port())
	}
	return out
}

func (g *gen) ingressRule() networkingv1.NetworkPolicyIngressRule {
	return networkingv1.NetworkPolicyIngressRule{From: g.peers(), Ports: g.ports()}
}

func (g *gen) egressRule() networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{To: g.peers(), Ports: g.ports()}
}

func (g *gen) policy(name, ns string) networkingv1.NetworkPolicy {
	np := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	np.Spec.PodSelector = *g.selector()
	for range g.r.IntN(3) {
		np.Spec.Ingress = append(np.Spec.Ingress, g.ingressRule())
	}
	for range g.r.IntN(3) {
		np.Spec.Egress = append(np.Spec.Egress, g.egressRule())
	}
	switch g.r.IntN(4) {
	case 0:
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	case 1:
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
	case 2:
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	}
	return np
}

// packet is one question of the traffic set.
type packet struct {
	src, dst string
	proto    model.Protocol
	port     uint16
}

// decideAll evaluates every pair of pods, nodes and outside addresses for every protocol and
// port of the traffic set.
func decideAll(snap *cluster.Snapshot) map[packet]Decision {
	peers := map[string]Peer{}
	for i := range snap.Pods {
		peers[snap.Pods[i].Namespace+"/"+snap.Pods[i].Name] = PodPeer(&snap.Pods[i])
	}
	for name, ip := range genNodes {
		peers["node:"+name] = NodePeer(name, netip.MustParseAddr(ip))
	}
	for _, ip := range genExternal {
		peers["ip:"+ip] = IPPeer(netip.MustParseAddr(ip))
	}
	ev := NewEvaluator(snap)
	out := map[packet]Decision{}
	for sn, s := range peers {
		for dn, d := range peers {
			for _, tr := range genTraffic {
				out[packet{sn, dn, tr.proto, tr.port}] = ev.Evaluate(s, d, tr.proto, tr.port)
			}
		}
	}
	return out
}

const propertySeeds = 300

func clone(snap *cluster.Snapshot) *cluster.Snapshot {
	c := &cluster.Snapshot{Nodes: snap.Nodes, Namespaces: snap.Namespaces, Pods: snap.Pods}
	for i := range snap.NetworkPolicies {
		c.NetworkPolicies = append(c.NetworkPolicies, *snap.NetworkPolicies[i].DeepCopy())
	}
	return c
}

// forEachSeed runs check on the cluster generated from each seed (before) and a copy of it
// (after), which check changes and compares.
func forEachSeed(check func(seed uint64, g *gen, before, after *cluster.Snapshot)) {
	for seed := range uint64(propertySeeds) {
		g := newGen(seed)
		before := g.cluster()
		check(seed, g, before, clone(before))
	}
}

// notVacuous fails a property test that otherwise passed when *changed is still 0: no seed
// made the change the property speaks of, so it held without being tested. Deferred, it
// reads the count at the test's end.
func notVacuous(t *testing.T, changed *int, nothing string) {
	t.Helper()
	if !t.Failed() && *changed == 0 {
		t.Errorf("%s over %d seeds", nothing, propertySeeds)
	}
}

// TestPropertyAddingAnAllowNeverRemovesAccess adds a rule to a direction a policy already
// isolates, a peer to a non-empty peer list, or a port to a non-empty port list: whatever
// was allowed stays allowed. (Adding a policy or a policyType can isolate a pod and is no
// pure allow; nor is the first peer or port, which narrows "all".)
func TestPropertyAddingAnAllowNeverRemovesAccess(t *testing.T) {
	gained := 0
	// The added allows must open something somewhere.
	defer notVacuous(t, &gained, "no added allow opened any traffic")
	forEachSeed(func(seed uint64, g *gen, before, after *cluster.Snapshot) {
		np := &after.NetworkPolicies[g.r.IntN(len(after.NetworkPolicies))]
		ingress, egress := policyTypes(&np.Spec)
		var change string
		switch {
		case ingress && len(np.Spec.Ingress) > 0 && len(np.Spec.Ingress[0].From) > 0 && g.r.IntN(3) == 0:
			np.Spec.Ingress[0].From = append(np.Spec.Ingress[0].From, g.peer())
			change = "ingress peer"
		case egress && len(np.Spec.Egress) > 0 && len(np.Spec.Egress[0].Ports) > 0 && g.r.IntN(3) == 0:
			np.Spec.Egress[0].Ports = append(np.Spec.Egress[0].Ports, g.port())
			change = "egress port"
		case egress && len(np.Spec.PolicyTypes) > 0 && g.r.IntN(2) == 0:
			// With policyTypes absent, the first egress rule would also turn egress isolation on.
			np.Spec.Egress = append(np.Spec.Egress, g.egressRule())
			change = "egress rule"
		case ingress:
			np.Spec.Ingress = append(np.Spec.Ingress, g.ingressRule())
			change = "ingress rule"
		default:
			return
		}
		was, is := decideAll(before), decideAll(after)
		for pkt, d := range was {
			if !d.Allowed && is[pkt].Allowed {
				gained++
			}
			if d.Egress.Allowed && !is[pkt].Egress.Allowed || d.Ingress.Allowed && !is[pkt].Ingress.Allowed {
				t.Fatalf("seed %d: adding an %s to %s removed access for %+v:\nbefore: %s; %s\nafter:  %s; %s",
					seed, change, np.Name, pkt, d.Egress.Explain(), d.Ingress.Explain(), is[pkt].Egress.Explain(), is[pkt].Ingress.Explain())
			}
		}
	})
}

// TestPropertyPolicySelectingNoPodChangesNothing adds a random policy whose podSelector no pod
// matches: every decision stays exactly the same.
func TestPropertyPolicySelectingNoPodChangesNothing(t *testing.T) {
	forEachSeed(func(seed uint64, g *gen, before, after *cluster.Snapshot) {
		np := g.policy("selects-nothing", g.pick(genNamespaces...))
		if g.r.IntN(2) == 0 {
			np.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": "none"}}
		} else {
			np.Spec.PodSelector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "missing", Operator: metav1.LabelSelectorOpExists}}}
		}
		after.NetworkPolicies = append(after.NetworkPolicies, np)
		if was, is := decideAll(before), decideAll(after); !reflect.DeepEqual(was, is) {
			t.Fatalf("seed %d: a policy selecting no pod changed decisions (-before +after):\n%s", seed, cmp.Diff(was, is))
		}
	})
}

// TestPropertyAllowAllIngress adds {podSelector: {}, ingress: [{}]} to a namespace: ingress to
// every pod-network pod there is allowed, and egress decisions do not change.
func TestPropertyAllowAllIngress(t *testing.T) {
	forEachSeed(func(seed uint64, g *gen, before, after *cluster.Snapshot) {
		ns := g.pick(genNamespaces...)
		after.NetworkPolicies = append(after.NetworkPolicies, networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "allow-all", Namespace: ns},
			Spec: networkingv1.NetworkPolicySpec{
				Ingress:     []networkingv1.NetworkPolicyIngressRule{{}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			},
		})
		was := decideAll(before)
		for pkt, d := range decideAll(after) {
			if d.Ingress.Applies && after.Pod(splitKey(pkt.dst)).Namespace == ns {
				if !d.Ingress.Allowed || !d.Ingress.Isolated {
					t.Fatalf("seed %d: %+v: ingress not allowed after allow-all in %s: %s", seed, pkt, ns, d.Ingress.Explain())
				}
				if !containsMatch(d.Ingress.AllowedBy, Match{Policy: PolicyRef{ns, "allow-all"}}) {
					t.Fatalf("seed %d: %+v: allow-all is not named among %v", seed, pkt, d.Ingress.AllowedBy)
				}
			}
			if !reflect.DeepEqual(was[pkt].Egress, d.Egress) {
				t.Fatalf("seed %d: %+v: an ingress policy changed egress (-before +after):\n%s", seed, pkt, cmp.Diff(was[pkt].Egress, d.Egress))
			}
		}
	})
}

// TestPropertyOrderIndependent shuffles the policies: every decision, including the order of
// the policies it names, stays the same.
func TestPropertyOrderIndependent(t *testing.T) {
	for seed := range uint64(propertySeeds) {
		g := newGen(seed)
		before := g.cluster()
		for i := range 3 {
			before.NetworkPolicies = append(before.NetworkPolicies, g.policy(fmt.Sprintf("extra%d", i), g.pick(genNamespaces...)))
		}
		after := clone(before)
		g.r.Shuffle(len(after.NetworkPolicies), func(i, j int) {
			after.NetworkPolicies[i], after.NetworkPolicies[j] = after.NetworkPolicies[j], after.NetworkPolicies[i]
		})
		if was, is := decideAll(before), decideAll(after); !reflect.DeepEqual(was, is) {
			t.Fatalf("seed %d: shuffling the policies changed decisions (-before +after):\n%s", seed, cmp.Diff(was, is))
		}
	}
}

// TestPropertyDenyPolicyNeverAddsAccess adds a policy without rules (pure isolation): nothing
// that was denied becomes allowed.
func TestPropertyDenyPolicyNeverAddsAccess(t *testing.T) {
	closed := 0
	defer notVacuous(t, &closed, "no deny policy closed any traffic")
	forEachSeed(func(seed uint64, g *gen, before, after *cluster.Snapshot) {
		np := g.policy("deny", g.pick(genNamespaces...))
		np.Spec.Ingress, np.Spec.Egress = nil, nil
		after.NetworkPolicies = append(after.NetworkPolicies, np)
		is := decideAll(after)
		for pkt, d := range decideAll(before) {
			if d.Allowed && !is[pkt].Allowed {
				closed++
			}
			if !d.Allowed && is[pkt].Allowed {
				t.Fatalf("seed %d: a deny policy allowed %+v", seed, pkt)
			}
		}
	})
}

func containsMatch(ms []Match, m Match) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

func splitKey(key string) (string, string) {
	for i := range len(key) {
		if key[i] == '/' {
			return key[:i], key[i+1:]
		}
	}
	return "", key
}
