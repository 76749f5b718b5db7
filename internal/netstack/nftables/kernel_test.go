package nftables

// The differential test against the kernel, as the iptables package has it: random but
// valid nftables rulesets are loaded into the router namespace of an iptablestest.Lab with
// `nft -f`, real UDP packets are sent through, and the evaluator's answer is compared with
// the kernel's: the rules whose counters rose (every rule but the verdict-map ones counts
// right after its matches), whether and where the packet arrived with which addresses, and
// the NAT conntrack recorded. Needs root, nft, ipset and conntrack; the namespaces
// (ndt-nft-<pid>-a/r/b) are deleted at the end.

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netdiag/netdiag/internal/netstack/iptables"
	"github.com/netdiag/netdiag/internal/netstack/iptables/iptablestest"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

type nftGen struct {
	rnd *rand.Rand
}

func (g *nftGen) pick(xs ...string) string { return xs[g.rnd.IntN(len(xs))] }
func (g *nftGen) p(pct int) bool           { return g.rnd.IntN(100) < pct }

// chain kinds: what a chain's rules may use.
const (
	kPre = iota
	kNatPre
	kFilter // forward, input and the regular chains they jump to
	kNatPost
)

func (g *nftGen) rule(kind int, jumps []string, final bool) string {
	var m []string
	if g.p(30) {
		m = append(m, "ip saddr "+g.pick("10.10.1.2", "!= 10.10.1.3", "10.10.1.0/24", "!= 10.10.0.0/16"))
	}
	if g.p(30) {
		m = append(m, "ip daddr "+g.pick("10.10.2.2", "!= 10.10.2.3", "{ 10.10.2.2, 10.10.1.1 }", "10.10.2.0/25", "@seta"))
	}
	if kind != kNatPost && g.p(20) {
		m = append(m, "iifname "+g.pick(`"r1"`, `"r2"`, `"r*"`, `!= "r1"`))
	}
	if kind == kFilter && g.p(10) {
		m = append(m, "oifname "+g.pick(`"r2"`, `"r1"`))
	}
	if kind == kNatPost {
		m = append(m, `oifname "r2"`)
	}
	udp, tcp := false, false
	if g.p(40) {
		m = append(m, "udp dport "+g.pick("7001", "7002-7003", "{ 7001, 7004 }", "!= 7004"))
		udp = true
	} else if g.p(20) {
		if g.p(70) {
			m = append(m, "meta l4proto udp")
			udp = true
		} else {
			m = append(m, "meta l4proto tcp")
			tcp = true
		}
	}
	if !tcp && g.p(10) {
		m = append(m, "udp sport "+g.pick("20000-40000", "40001-65535"))
		udp = true
	}
	if g.p(15) {
		m = append(m, "ct state "+g.pick("new", "established,related", "new,established"))
	}
	if kind != kPre && kind != kNatPre && g.p(10) {
		m = append(m, "ct status "+g.pick("dnat", "snat"))
	}
	if g.p(15) {
		m = append(m, "meta mark "+g.pick("0x1", "& 0x3 == 0x2", "!= 0x0"))
	}
	if kind != kPre && g.p(10) {
		m = append(m, "ct mark "+g.pick("0x10", "!= 0x10"))
	}
	if kind != kNatPost && g.p(10) {
		m = append(m, "fib daddr type "+g.pick("local", "!= local"))
	}
	var actions []string
	switch kind {
	case kPre:
		actions = []string{"", "meta mark set 0x1", "meta mark set meta mark | 0x2", "ct mark set 0x10", "accept", "drop"}
	case kNatPre:
		actions = []string{"", "accept", "meta mark set 0x1", "dnat to " + g.pick("10.10.2.3", "10.10.2.2", "10.10.1.1")}
		if udp {
			actions = append(actions, "dnat to "+g.pick("10.10.2.3:7003", "10.10.2.2:7004", "10.10.1.1:7002"))
		}
	case kNatPost:
		actions = []string{"", "accept", "masquerade", "snat to 10.10.2.1"}
		if udp {
			actions = append(actions, "snat to 10.10.2.1:6000")
		}
	case kFilter:
		actions = []string{"", "accept", "drop", "reject", "reject with icmp type host-prohibited", "meta mark set 0x2"}
		if !final {
			actions = append(actions, "return")
		}
		for _, j := range jumps {
			actions = append(actions, "jump "+j, "goto "+j)
		}
	}
	return strings.TrimSpace(strings.Join(m, " ") + " counter " + g.pick(actions...))
}

func (g *nftGen) ruleset() string {
	var b strings.Builder
	rules := func(kind, max int, jumps []string, final bool) {
		for range g.rnd.IntN(max + 1) {
			fmt.Fprintf(&b, "\t\t%s\n", g.rule(kind, jumps, final))
		}
	}
	b.WriteString("flush ruleset\ntable ip ndt {\n")
	b.WriteString("\tset seta {\n\t\ttype ipv4_addr\n\t\telements = { 10.10.2.3, 10.10.1.3 }\n\t}\n")
	b.WriteString("\tmap svc {\n\t\ttype ipv4_addr . inet_proto . inet_service : verdict\n" +
		"\t\telements = { 10.10.2.2 . udp . 7002 : goto c2, 10.10.1.1 . udp . 7001 : accept, 10.10.2.3 . udp . 7004 : drop }\n\t}\n")
	b.WriteString("\tchain c2 {\n")
	rules(kFilter, 3, nil, false)
	b.WriteString("\t}\n\tchain c1 {\n")
	rules(kFilter, 3, []string{"c2"}, false)
	b.WriteString("\t}\n\tchain mangle-pre {\n\t\ttype filter hook prerouting priority -150; policy accept;\n")
	// A ct expression makes the kernel track connections whatever else the rules hold.
	b.WriteString("\t\tct state invalid counter drop\n")
	rules(kPre, 3, nil, true)
	b.WriteString("\t}\n\tchain nat-pre {\n\t\ttype nat hook prerouting priority -100; policy accept;\n")
	rules(kNatPre, 3, nil, true)
	fmt.Fprintf(&b, "\t}\n\tchain filter-forward {\n\t\ttype filter hook forward priority 0; policy %s;\n", g.pick("accept", "drop"))
	if g.p(50) {
		b.WriteString("\t\tip daddr . meta l4proto . udp dport vmap @svc\n")
	}
	rules(kFilter, 4, []string{"c1", "c2"}, true)
	fmt.Fprintf(&b, "\t}\n\tchain filter-input {\n\t\ttype filter hook input priority 0; policy %s;\n", g.pick("accept", "accept", "drop"))
	rules(kFilter, 3, []string{"c1"}, true)
	b.WriteString("\t}\n\tchain nat-post {\n\t\ttype nat hook postrouting priority 100; policy accept;\n")
	rules(kNatPost, 3, nil, true)
	b.WriteString("\t}\n}\n")
	return b.String()
}

func routerEnv() *iptables.Env {
	return &iptables.Env{
		Local:         map[netip.Addr]bool{addr("10.10.1.1"): true, addr("10.10.2.1"): true},
		LocalPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Broadcast:     map[netip.Addr]bool{addr("10.10.1.255"): true, addr("10.10.2.255"): true},
		Addrs: map[string][]netip.Prefix{
			"r1": {netip.MustParsePrefix("10.10.1.1/24")}, "r2": {netip.MustParsePrefix("10.10.2.1/24")},
		},
	}
}

type prediction struct {
	verdict nf.Verdict
	final   nf.Packet
	local   bool
	matched map[string]int
	trace   []string
}

func predict(t *testing.T, rs *Ruleset, env *iptables.Env, pkt nf.Packet) prediction {
	t.Helper()
	pr := prediction{matched: map[string]int{}}
	one := func(h nf.Hook, p nf.Packet) nf.Outcome {
		outs := rs.Traverse(h, p, env, nil)
		if len(outs) != 1 {
			t.Fatalf("%s: %d outcomes for a ruleset without numgen", h, len(outs))
		}
		for _, s := range outs[0].Trace {
			pr.trace = append(pr.trace, s.String())
			if s.Rule != nil {
				pr.matched[fmt.Sprintf("%s#%d", s.Chain, s.Rule.(*Rule).Index)]++
			}
		}
		if outs[0].Verdict == nf.Unknown {
			t.Fatalf("%s: Unknown for a ruleset of known expressions: %s\n%s", h, outs[0].Note, strings.Join(pr.trace, "\n"))
		}
		return outs[0]
	}
	o := one(nf.PreRouting, pkt)
	if o.Verdict == nf.Accept {
		p := o.Packet
		if env.IsLocal(p.Dst) {
			pr.local = true
			o = one(nf.Input, p)
		} else {
			p.Out = "r2"
			if o = one(nf.Forward, p); o.Verdict == nf.Accept {
				o = one(nf.PostRouting, o.Packet)
			}
		}
	}
	pr.verdict, pr.final = o.Verdict, o.Packet
	return pr
}

// counters reads the packet counts of the rules that have a counter.
func counters(t *testing.T, ns string) map[string]uint64 {
	t.Helper()
	rs, err := Parse(iptablestest.RunIn(t, ns, "", "nft", "-j", "list", "table", "ip", "ndt"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, tbl := range rs.Tables {
		for _, c := range tbl.Order {
			for _, r := range c.Rules {
				if r.HasCounter {
					out[fmt.Sprintf("%s#%d", r.Chain, r.Index)] = r.Packets
				}
			}
		}
	}
	return out
}

func TestKernelDifferential(t *testing.T) {
	l := iptablestest.NewLab(t, "ndt-nft", "nft")
	rulesets, packets := 25, 12
	if testing.Short() {
		rulesets, packets = 5, 8
	}
	seed := iptablestest.Seed(t, "NDT_NFT_SEED")
	g := &nftGen{rnd: rand.New(rand.NewPCG(seed, 2))}
	env := routerEnv()
	senders := map[string]net.PacketConn{}
	stats := map[nf.Verdict]int{}
	trial, nat := 0, 0
	for i := range rulesets {
		text := g.ruleset()
		iptablestest.RunIn(t, l.R, text, "nft", "-f", "-")
		// The ruleset as the kernel holds it, with its handles, is what the evaluator reads.
		rs, err := Parse(iptablestest.RunIn(t, l.R, "", "nft", "-j", "list", "ruleset"))
		if err != nil {
			t.Fatal(err)
		}
		for j := range packets {
			trial++
			sport := uint16(20000 + trial*7919%45000)
			src := g.pick("10.10.1.2", "10.10.1.3")
			dst := g.pick("10.10.2.2", "10.10.2.3", "10.10.1.1", "10.10.2.1", "10.10.2.2")
			dport := uint16(7001 + g.rnd.IntN(4))
			pkt := nf.Packet{Src: addr(src), Dst: addr(dst), Proto: nf.ProtoUDP, SrcPort: sport, DstPort: dport, In: "r1"}
			pr := predict(t, rs, env, pkt)
			_ = exec.Command("ip", "netns", "exec", l.R, "conntrack", "-F").Run()
			before := counters(t, l.R)
			key := fmt.Sprint(src, sport)
			conn := senders[key]
			if conn == nil {
				conn = iptablestest.InNetns(t, l.A, func() (net.PacketConn, error) { return net.ListenPacket("udp4", fmt.Sprintf("%s:%d", src, sport)) })
				senders[key] = conn
				t.Cleanup(func() { conn.Close() })
			}
			id := fmt.Sprintf("%d/%d", i, j)
			if _, err := conn.WriteTo([]byte(id), &net.UDPAddr{IP: net.ParseIP(dst), Port: int(dport)}); err != nil {
				t.Fatal(err)
			}
			var got *iptablestest.Delivery
			wait := time.After(150 * time.Millisecond)
			if pr.verdict == nf.Accept {
				wait = time.After(2 * time.Second)
			}
		recv:
			for {
				select {
				case d := <-l.Recv:
					if d.Payload != id {
						t.Errorf("packet %s arrived late, during %s", d.Payload, id)
						continue
					}
					got = &d
					break recv
				case <-wait:
					break recv
				}
			}
			after := counters(t, l.R)
			ctx := fmt.Sprintf("ruleset %d packet %d: %s\nruleset:\n%s\ntrace:\n  %s", i, j, pkt.Model(), text, strings.Join(pr.trace, "\n  "))
			var diff []string
			for k, v := range after {
				if d := int(v - before[k]); d != pr.matched[k] {
					diff = append(diff, fmt.Sprintf("%s: evaluator %d, kernel %d", k, pr.matched[k], d))
				}
			}
			slices.Sort(diff)
			if len(diff) > 0 {
				t.Fatalf("rule counters differ:\n%s\n%s", strings.Join(diff, "\n"), ctx)
			}
			if (got != nil) != (pr.verdict == nf.Accept) {
				t.Fatalf("evaluator says %s, kernel delivered: %v\n%s", pr.verdict, got, ctx)
			}
			stats[pr.verdict]++
			if got == nil {
				continue
			}
			wantNS := l.B
			if pr.local {
				wantNS = l.R
			}
			if got.NS != wantNS || got.Local != netip.AddrPortFrom(pr.final.Dst, pr.final.DstPort) || got.Src != netip.AddrPortFrom(pr.final.Src, pr.final.SrcPort) {
				t.Fatalf("delivered in %s to %s from %s, evaluator says %s to %s from %s\n%s", got.NS, got.Local, got.Src,
					wantNS, netip.AddrPortFrom(pr.final.Dst, pr.final.DstPort), netip.AddrPortFrom(pr.final.Src, pr.final.SrcPort), ctx)
			}
			entry := iptablestest.RunIn(t, l.R, "", "conntrack", "-L", "-p", "udp", "--orig-port-src", fmt.Sprint(sport))
			wantReply := fmt.Sprintf("src=%s dst=%s sport=%d dport=%d", pr.final.Dst, pr.final.Src, pr.final.DstPort, pr.final.SrcPort)
			if !strings.Contains(entry, wantReply) || !strings.Contains(entry, fmt.Sprintf("mark=%d ", pr.final.Conn.Mark)) {
				t.Fatalf("conntrack has %q, evaluator says reply %s, ct mark %d\n%s", entry, wantReply, pr.final.Conn.Mark, ctx)
			}
			if pr.final.Src != pkt.Src || pr.final.Dst != pkt.Dst || pr.final.DstPort != pkt.DstPort {
				nat++
			}
		}
	}
	t.Logf("%d packets through %d random rulesets: %v, %d rewritten by NAT", trial, rulesets, stats, nat)
}
