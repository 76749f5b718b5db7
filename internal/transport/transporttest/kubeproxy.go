package transporttest

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"

	"github.com/netdiag/netdiag/internal/fixture/ruleset"
)

// KubeProxySave returns about rules rules as kube-proxy's iptables mode leaves them and
// iptables-nft-save -c prints them: a filter and a nat table, built-in chains first and
// the others sorted by name, each chain's rules together. Services have made-up names in
// made-up namespaces, one to five endpoints on random nodes' pod ranges, and a third of
// them a NodePort; a quarter of the rules have counted traffic. The same seed gives the
// same text.
func KubeProxySave(rules int, seed uint64) string {
	g := newGenerator(seed)
	return g.save(ruleset.Fill(rules, g.service))
}

// NumberedKubeProxySave is KubeProxySave with the services of the collector's benchmark
// (ruleset.Numbered): service i is ns-<i%100>/svc-<i>:http on 10.96.<i/250>.<i%250+1>, with
// two endpoints and no NodePort, so that names and addresses follow each other in order and
// repeat what a compressor has seen; counters as KubeProxySave's.
func NumberedKubeProxySave(rules int, seed uint64) string {
	return newGenerator(seed).save(ruleset.Fill(rules, func(i int) ruleset.Service { return ruleset.Numbered(i, 2, false) }))
}

type generator struct {
	rng        *rand.Rand
	namespaces []string
	usedIPs    map[netip.Addr]bool
	nodePort   uint16
}

func newGenerator(seed uint64) *generator {
	g := &generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), usedIPs: map[netip.Addr]bool{}, nodePort: 30000}
	g.namespaces = make([]string, 150)
	for i := range g.namespaces {
		g.namespaces[i] = words[g.rng.IntN(len(words))] + "-" + g.word()
	}
	return g
}

// save prints kube-proxy's rules for the services with the generator's counters.
func (g *generator) save(svcs []ruleset.Service) string {
	t := ruleset.NewTables()
	ruleset.KubeProxy(t, svcs, ruleset.Node{ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16")})
	return t.SaveByChain(g.counters)
}

var syllables = []string{"ap", "ba", "ce", "do", "ex", "fa", "go", "hi", "io", "ju", "ka", "le", "mo", "nu", "or", "pi", "qu", "ro", "si", "tu", "ve", "wa", "xi", "yo", "ze"}

var words = []string{"api", "web", "db", "cache", "auth", "billing", "checkout", "search", "ledger", "gateway", "worker", "metrics", "events", "orders", "users", "cart", "inventory", "payments", "notify", "ingest"}

func (g *generator) word() string {
	var b strings.Builder
	for range 2 + g.rng.IntN(2) {
		b.WriteString(syllables[g.rng.IntN(len(syllables))])
	}
	return b.String()
}

// counters are a rule's [packets:bytes]: zero for most, some traffic for a quarter.
func (g *generator) counters() string {
	if g.rng.IntN(4) != 0 {
		return "[0:0]"
	}
	packets := uint64(1) << g.rng.IntN(20)
	packets += g.rng.Uint64N(packets)
	return fmt.Sprintf("[%d:%d]", packets, packets*uint64(60+g.rng.IntN(40)))
}

type port struct {
	name  string
	port  uint16
	proto string
}

var ports = []port{{"http", 80, "tcp"}, {"https", 443, "tcp"}, {"grpc", 9090, "tcp"}, {"metrics", 8080, "tcp"}, {"dns", 53, "udp"}, {"", 5432, "tcp"}}

// service makes up a service port: a random name, port and cluster IP, one to five
// endpoints, and a node port for a third of them.
func (g *generator) service(int) ruleset.Service {
	p := ports[g.rng.IntN(len(ports))]
	s := ruleset.Service{Namespace: g.namespaces[g.rng.IntN(len(g.namespaces))], Name: words[g.rng.IntN(len(words))] + "-" + g.word(),
		PortName: p.name, Port: p.port, Protocol: p.proto}
	for {
		a := netip.AddrFrom4([4]byte{10, byte(96 + g.rng.IntN(16)), byte(g.rng.IntN(256)), byte(1 + g.rng.IntN(254))})
		if !g.usedIPs[a] {
			g.usedIPs[a], s.ClusterIP = true, a
			break
		}
	}
	if g.rng.IntN(3) == 0 {
		g.nodePort++
		s.NodePort = g.nodePort
	}
	target := p.port
	if g.rng.IntN(2) == 0 {
		target = uint16(8000 + g.rng.IntN(1000))
	}
	for range 1 + g.rng.IntN(3) + g.rng.IntN(3) {
		s.Endpoints = append(s.Endpoints, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 244, byte(g.rng.IntN(200)), byte(2 + g.rng.IntN(250))}), target))
	}
	return s
}
