package iptables

// The differential test against the kernel: random but valid rulesets are loaded into a
// router namespace with iptables-restore, real UDP packets are sent through it from a
// sender namespace to a receiver namespace over veth pairs, and the evaluator's answer is
// compared with what the kernel did: the rules whose counters rose (iptables-save -c), the
// policies that applied, whether and where the packet arrived with which addresses, and the
// NAT and connection mark conntrack recorded (conntrack -L).
//
// The lab is iptablestest.Lab: a sender, the router holding the rules and a receiver. Needs
// root, iproute2, iptables, ipset and conntrack; the namespaces (ndt-ipt-<pid>-a/r/b) are
// deleted at the end.

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netdiag/netdiag/internal/netstack/ipset"
	"github.com/netdiag/netdiag/internal/netstack/iptables/iptablestest"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// ruleGen writes random rulesets from the terms and targets the evaluator claims to know,
// valid for iptables-restore: interfaces only where the hook has them, NAT ports only with
// -p udp, no jump loops, and POSTROUTING rules limited to -o r2 so that the ICMP errors
// REJECT sends back (which leave by r1) match none of them.
type ruleGen struct {
	rnd *rand.Rand
	n   int
}

func (g *ruleGen) pick(xs ...string) string { return xs[g.rnd.IntN(len(xs))] }
func (g *ruleGen) p(pct int) bool           { return g.rnd.IntN(100) < pct }
func (g *ruleGen) neg(pct int) string {
	if g.p(pct) {
		return "! "
	}
	return ""
}

type chainCtx struct {
	table, chain string
	in, out      bool
	// user is set for a user chain; jumps lists the chains it may jump to.
	user  bool
	jumps []string
}

func (g *ruleGen) rule(c chainCtx) string {
	g.n++
	var b []string
	add := func(s ...string) { b = append(b, s...) }
	if g.p(35) {
		add(g.neg(25) + "-s " + g.pick("10.10.1.2/32", "10.10.1.3/32", "10.10.1.0/24", "10.10.0.0/16", "10.10.2.1/32", "0.0.0.0/1"))
	}
	if g.p(35) {
		add(g.neg(25) + "-d " + g.pick("10.10.2.2/32", "10.10.2.3/32", "10.10.2.0/25", "10.10.1.1/32", "10.10.2.1/32", "10.10.0.0/16"))
	}
	if c.in && g.p(25) {
		add(g.neg(20) + "-i " + g.pick("r1", "r2", "r+", "lo"))
	}
	if c.out && g.p(25) {
		add(g.neg(20) + "-o " + g.pick("r2", "r1", "r+"))
	}
	if c.chain == "POSTROUTING" {
		add("-o r2")
	}
	udp := false
	if g.p(50) {
		switch {
		case g.p(75):
			if g.p(10) {
				add("! -p udp")
			} else {
				add("-p udp")
				udp = true
			}
		default:
			add("-p " + g.pick("tcp", "icmp"))
		}
	}
	if udp && g.p(50) {
		opt := g.pick("--dport", "--sport")
		val := g.pick("7001", "7002", "7003:7004", "7000:7002", "20000:65535")
		if opt == "--sport" {
			val = g.pick("20000:40000", "40001:65535", "1:19999")
		}
		add("-m udp " + g.neg(20) + opt + " " + val)
	}
	if udp && g.p(20) {
		add("-m multiport " + g.neg(20) + "--dports " + g.pick("7001,7003", "7002:7004", "7004,22,80"))
	}
	if g.p(15) {
		add("-m conntrack " + g.neg(20) + "--ctstate " + g.pick("NEW", "ESTABLISHED", "NEW,ESTABLISHED", "DNAT", "SNAT", "RELATED,ESTABLISHED", "UNTRACKED"))
	}
	if g.p(20) {
		add("-m mark " + g.neg(20) + "--mark " + g.pick("0x1/0x1", "0x2/0x3", "0x0/0xff", "0x3"))
	}
	if g.p(15) {
		add(fmt.Sprintf("-m comment --comment \"rule %d of the test\"", g.n))
	}
	if g.p(10) {
		add("-m addrtype " + g.neg(25) + g.pick("--dst-type", "--src-type") + " LOCAL")
	}
	if g.p(5) {
		add("-m iprange " + g.neg(20) + "--dst-range 10.10.2.2-10.10.2.3")
	}
	if g.p(8) {
		if g.p(50) {
			add("-m set " + g.neg(20) + "--match-set NDTA " + g.pick("src", "dst"))
		} else {
			add("-m set " + g.neg(20) + "--match-set NDTB dst,dst")
		}
	}
	if g.p(5) {
		add("-m limit --limit 10000/sec --limit-burst 10000")
	}
	if g.p(5) {
		add("-m pkttype --pkt-type " + g.pick("unicast", "broadcast"))
	}
	add(g.target(c, udp))
	return "-A " + c.chain + " " + strings.Join(b, " ")
}

func (g *ruleGen) target(c chainCtx, udp bool) string {
	jump := func() string {
		if len(c.jumps) == 0 {
			return ""
		}
		if g.p(25) {
			return "-g " + g.pick(c.jumps...)
		}
		return "-j " + g.pick(c.jumps...)
	}
	var choices []string
	switch c.table {
	case TableRaw:
		choices = []string{"", "-j NFLOG --nflog-group 7", "-j CT --notrack", "-j ACCEPT", "-j MARK --set-xmark 0x1/0x1"}
	case TableMangle:
		choices = []string{"", "-j MARK --set-xmark 0x1/0x1", "-j MARK --set-xmark 0x2/0x3", "-j MARK --set-xmark 0x0/0x1",
			"-j CONNMARK --set-xmark 0x10/0xff", "-j CONNMARK --save-mark --nfmask 0xff --ctmask 0xff", "-j ACCEPT", "-j RETURN", jump(), "-j DROP"}
	case TableNAT:
		switch c.chain {
		case "POSTROUTING":
			choices = []string{"", "-j MASQUERADE", "-j SNAT --to-source 10.10.2.1", "-j ACCEPT", "-j RETURN", "-j MARK --set-xmark 0x2/0x2"}
			if udp {
				choices = append(choices, "-j SNAT --to-source 10.10.2.1:6000", "-j MASQUERADE --to-ports 6100")
			}
		case "INPUT":
			choices = []string{"", "-j SNAT --to-source 10.10.1.1", "-j ACCEPT", "-j RETURN"}
		default:
			choices = []string{"", "-j DNAT --to-destination " + g.pick("10.10.2.3", "10.10.2.2", "10.10.1.1", "10.10.2.1"),
				"-j ACCEPT", "-j RETURN", "-j MARK --set-xmark 0x1/0x1", jump()}
			if udp {
				choices = append(choices, "-j DNAT --to-destination "+g.pick("10.10.2.3:7003", "10.10.2.2:7004", "10.10.1.1:7002", ":7001"))
			}
		}
	case TableFilter:
		choices = []string{"", "-j ACCEPT", "-j DROP", "-j REJECT --reject-with " + g.pick("icmp-port-unreachable", "icmp-host-prohibited"),
			"-j RETURN", "-j NFLOG --nflog-group 7", "-j MARK --set-xmark 0x2/0x2", jump(), jump()}
	}
	return g.pick(choices...)
}

// ruleset writes one random ruleset for the router.
func (g *ruleGen) ruleset() string {
	var b strings.Builder
	rules := func(c chainCtx, max int) {
		for range g.rnd.IntN(max + 1) {
			b.WriteString(strings.TrimSpace(g.rule(c)) + "\n")
		}
	}
	b.WriteString("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	if g.p(30) {
		rules(chainCtx{table: TableRaw, chain: "PREROUTING", in: true}, 2)
	}
	b.WriteString("COMMIT\n*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:NDT-M1 - [0:0]\n")
	rules(chainCtx{table: TableMangle, chain: "PREROUTING", in: true, jumps: []string{"NDT-M1"}}, 4)
	rules(chainCtx{table: TableMangle, chain: "NDT-M1", in: true, user: true}, 3)
	rules(chainCtx{table: TableMangle, chain: "INPUT", in: true}, 2)
	rules(chainCtx{table: TableMangle, chain: "FORWARD", in: true, out: true}, 2)
	rules(chainCtx{table: TableMangle, chain: "POSTROUTING"}, 2)
	b.WriteString("COMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:NDT-N1 - [0:0]\n")
	rules(chainCtx{table: TableNAT, chain: "PREROUTING", in: true, jumps: []string{"NDT-N1"}}, 4)
	rules(chainCtx{table: TableNAT, chain: "NDT-N1", in: true, user: true}, 3)
	rules(chainCtx{table: TableNAT, chain: "INPUT", in: true}, 2)
	rules(chainCtx{table: TableNAT, chain: "POSTROUTING"}, 3)
	fmt.Fprintf(&b, "COMMIT\n*filter\n:INPUT %s [0:0]\n:FORWARD %s [0:0]\n:OUTPUT ACCEPT [0:0]\n:NDT-F1 - [0:0]\n:NDT-F2 - [0:0]\n",
		g.pick("ACCEPT", "ACCEPT", "DROP"), g.pick("ACCEPT", "DROP"))
	rules(chainCtx{table: TableFilter, chain: "INPUT", in: true, jumps: []string{"NDT-F1", "NDT-F2"}}, 4)
	rules(chainCtx{table: TableFilter, chain: "FORWARD", in: true, jumps: []string{"NDT-F1", "NDT-F2"}}, 5)
	rules(chainCtx{table: TableFilter, chain: "NDT-F1", in: true, user: true, jumps: []string{"NDT-F2"}}, 4)
	rules(chainCtx{table: TableFilter, chain: "NDT-F2", in: true, user: true}, 3)
	b.WriteString("COMMIT\n")
	return b.String()
}

// routerEnv is the router as the evaluator sees it.
func routerEnv(t *testing.T, sets string) *Env {
	s, err := ipset.Parse(sets)
	if err != nil {
		t.Fatal(err)
	}
	return &Env{
		Local:         map[netip.Addr]bool{addr("10.10.1.1"): true, addr("10.10.2.1"): true},
		LocalPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Broadcast:     map[netip.Addr]bool{addr("10.10.1.255"): true, addr("10.10.2.255"): true},
		Addrs: map[string][]netip.Prefix{
			"r1": {netip.MustParsePrefix("10.10.1.1/24")}, "r2": {netip.MustParsePrefix("10.10.2.1/24")},
			"lo": {netip.MustParsePrefix("127.0.0.1/8")},
		},
		Sets: s,
	}
}

// prediction is the evaluator's answer for one packet through the router.
type prediction struct {
	verdict nf.Verdict
	final   nf.Packet
	// local is set when the packet is delivered to the router itself.
	local bool
	// matched holds "table/chain#index" for every rule that matched, policies holds
	// "table/chain" for every policy that applied.
	matched, policies map[string]int
	trace             []string
}

func predict(t *testing.T, rs *Ruleset, env *Env, pkt nf.Packet) prediction {
	t.Helper()
	pr := prediction{matched: map[string]int{}, policies: map[string]int{}}
	record := func(o nf.Outcome) {
		for _, s := range o.Trace {
			pr.trace = append(pr.trace, s.String())
			if s.Rule == nil {
				pr.policies[s.Table+"/"+s.Chain]++
			} else {
				pr.matched[fmt.Sprintf("%s/%s#%d", s.Table, s.Chain, s.Rule.(*Rule).Index)]++
			}
		}
	}
	one := func(h nf.Hook, p nf.Packet) nf.Outcome {
		outs := rs.Traverse(h, p, env)
		if len(outs) != 1 {
			t.Fatalf("%s: %d outcomes for a ruleset without statistic rules", h, len(outs))
		}
		record(outs[0])
		if outs[0].Verdict == nf.Unknown {
			t.Fatalf("%s: Unknown for a ruleset of known terms: %s\n%s", h, outs[0].Note, strings.Join(pr.trace, "\n"))
		}
		return outs[0]
	}
	o := one(nf.PreRouting, pkt)
	if o.Verdict != nf.Accept {
		pr.verdict, pr.final = o.Verdict, o.Packet
		return pr
	}
	p := o.Packet
	if env.IsLocal(p.Dst) {
		pr.local = true
		o = one(nf.Input, p)
	} else {
		p.Out = "r2"
		o = one(nf.Forward, p)
		if o.Verdict == nf.Accept {
			o = one(nf.PostRouting, o.Packet)
		}
	}
	pr.verdict, pr.final = o.Verdict, o.Packet
	return pr
}

// counters reads the rule and policy packet counts of the router.
func counters(t *testing.T, ns string) (map[string]uint64, map[string]uint64) {
	t.Helper()
	rs, err := Parse(iptablestest.RunIn(t, ns, "", "iptables-save", "-c"))
	if err != nil {
		t.Fatal(err)
	}
	rules, policies := map[string]uint64{}, map[string]uint64{}
	for _, tbl := range rs.Tables {
		for _, c := range tbl.Order {
			if c.Builtin() {
				policies[c.Table+"/"+c.Name] = c.PolicyCounters.Packets
			}
			for _, r := range c.Rules {
				rules[fmt.Sprintf("%s/%s#%d", r.Table, r.Chain, r.Index)] = r.Counters.Packets
			}
		}
	}
	return rules, policies
}

func rose(before, after map[string]uint64) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = int(d)
		}
	}
	return out
}

func TestKernelDifferential(t *testing.T) {
	l := iptablestest.NewLab(t, "ndt-ipt", "iptables-restore", "iptables-save")
	rulesets, packets := 30, 12
	if testing.Short() {
		rulesets, packets = 6, 8
	}
	seed := iptablestest.Seed(t, "NDT_IPT_SEED")
	from := 0
	if s := os.Getenv("NDT_IPT_FROM"); s != "" {
		fmt.Sscan(s, &from)
	}
	t.Logf("NDT_IPT_FROM=N starts at ruleset N")
	g := &ruleGen{rnd: rand.New(rand.NewPCG(seed, 1))}
	env := routerEnv(t, iptablestest.RunIn(t, l.R, "", "ipset", "save"))
	senders := map[string]net.PacketConn{}
	sport, trial := 0, 0
	stats := map[string]int{}
	sent := 0
	nat := 0
	for i := range rulesets {
		save := g.ruleset()
		if i < from {
			// Rerunning one failing ruleset: draw the skipped ones' packets all the same.
			for range packets {
				g.pick("a", "b")
				g.pick("a", "b", "c", "d", "e")
				g.rnd.IntN(4)
				trial++
			}
			continue
		}
		iptablestest.RunIn(t, l.R, save, "iptables-restore")
		_ = exec.Command("ip", "netns", "exec", l.R, "conntrack", "-F").Run()
		rs, err := Parse(save)
		if err != nil {
			t.Fatal(err)
		}
		for j := range packets {
			src := g.pick("10.10.1.2", "10.10.1.3")
			dst := g.pick("10.10.2.2", "10.10.2.3", "10.10.1.1", "10.10.2.1", "10.10.2.2")
			dport := uint16(7001 + g.rnd.IntN(4))
			// A source port no other trial used, so that no NAT port clash makes the kernel
			// pick another port; spread over 20000-64999, which the --sport ranges split.
			trial++
			sport = 20000 + trial*7919%45000
			pkt := udpPkt(src, uint16(sport), dst, dport)
			pkt.In = "r1"
			pr := predict(t, rs, env, pkt)
			// No earlier connection may clash with this one's NAT: with a fixed SNAT port the
			// kernel would then drop it, with a range pick another port.
			_ = exec.Command("ip", "netns", "exec", l.R, "conntrack", "-F").Run()
			beforeRules, beforePol := counters(t, l.R)

			key := src + fmt.Sprint(sport)
			conn := senders[key]
			if conn == nil {
				conn = iptablestest.InNetns(t, l.A, func() (net.PacketConn, error) { return net.ListenPacket("udp4", fmt.Sprintf("%s:%d", src, sport)) })
				senders[key] = conn
				t.Cleanup(func() { conn.Close() })
			}
			id := fmt.Sprintf("%d/%d", i, j)
			sent++
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
						t.Errorf("packet %s arrived late, during %s: %+v", d.Payload, id, d)
						continue
					}
					got = &d
					break recv
				case <-wait:
					break recv
				}
			}
			ctx := fmt.Sprintf("ruleset %d packet %d: %s\nruleset:\n%s\ntrace:\n  %s", i, j, pkt.Model(), save, strings.Join(pr.trace, "\n  "))
			ruleDiff, polDiff := settledDiffs(t, l.R, beforeRules, beforePol, pr.matched, pr.policies, func(pol map[string]int) {
				for k := range pol {
					// REJECT's ICMP error leaves the router by POSTROUTING too.
					if pr.verdict == nf.Reject && strings.HasSuffix(k, "/POSTROUTING") {
						delete(pol, k)
					}
				}
			})
			if ruleDiff != "" {
				t.Fatalf("rules whose counters rose differ from the rules that matched (-evaluator +kernel):\n%s\n%s", ruleDiff, ctx)
			}
			if polDiff != "" {
				t.Fatalf("policies applied differ (-evaluator +kernel):\n%s\n%s", polDiff, ctx)
			}
			if (got != nil) != (pr.verdict == nf.Accept) {
				t.Fatalf("evaluator says %s, kernel delivered: %v\n%s", pr.verdict, got, ctx)
			}
			stats[string(pr.verdict)]++
			if got == nil {
				continue
			}
			wantNS := l.B
			if pr.local {
				wantNS = l.R
			}
			want := iptablestest.Delivery{NS: wantNS, Local: netip.AddrPortFrom(pr.final.Dst, pr.final.DstPort), Src: netip.AddrPortFrom(pr.final.Src, pr.final.SrcPort), Payload: id, Conn: got.Conn}
			if *got != want {
				t.Fatalf("delivered %+v, evaluator said %+v\n%s", *got, want, ctx)
			}
			if pr.final.Conn.State == nf.CtUntracked || !rs.UsesConntrack() {
				// No connection: untracked, or no rule made the kernel track any.
				continue
			}
			// conntrack's reply tuple holds the NAT the kernel applied, and the mark the
			// connection's.
			entry := iptablestest.RunIn(t, l.R, "", "conntrack", "-L", "-p", "udp", "--orig-port-src", fmt.Sprint(sport))
			wantReply := fmt.Sprintf("src=%s dst=%s sport=%d dport=%d", pr.final.Dst, pr.final.Src, pr.final.DstPort, pr.final.SrcPort)
			wantMark := fmt.Sprintf("mark=%d ", pr.final.Conn.Mark)
			if !strings.Contains(entry, wantReply) || !strings.Contains(entry, wantMark) {
				t.Fatalf("conntrack has %q, evaluator says reply %s and %s\n%s", entry, wantReply, wantMark, ctx)
			}
			if pr.final.Src != pkt.Src || pr.final.Dst != pkt.Dst || pr.final.DstPort != pkt.DstPort {
				nat++
			}
			if pr.local {
				continue
			}
			// The reply: ESTABLISHED, in the reply direction, its NAT undone by conntrack.
			rp := predictReply(t, rs, env, pr.final)
			beforeRules, beforePol = counters(t, l.R)
			if _, err := got.Conn.WriteTo([]byte("re "+id), net.UDPAddrFromAddrPort(got.Src)); err != nil {
				t.Fatal(err)
			}
			replyWait := 150 * time.Millisecond
			if rp.verdict == nf.Accept {
				replyWait = 2 * time.Second
			}
			_ = conn.SetReadDeadline(time.Now().Add(replyWait))
			buf := make([]byte, 64)
			n, from, rerr := conn.ReadFrom(buf)
			rctx := fmt.Sprintf("reply to %s\ntrace:\n  %s\n%s", pr.final.Reply().Model(), strings.Join(rp.trace, "\n  "), ctx)
			if (rerr == nil) != (rp.verdict == nf.Accept) {
				t.Fatalf("evaluator says %s for the reply, kernel: %v\n%s", rp.verdict, rerr, rctx)
			}
			stats["reply "+string(rp.verdict)]++
			if rp.verdict == nf.Reject {
				// The ICMP error leaves by r2 and may meet the POSTROUTING rules.
				continue
			}
			ruleDiff, polDiff = settledDiffs(t, l.R, beforeRules, beforePol, rp.matched, rp.policies, func(map[string]int) {})
			if ruleDiff != "" {
				t.Fatalf("reply: rules whose counters rose differ (-evaluator +kernel):\n%s\n%s", ruleDiff, rctx)
			}
			if polDiff != "" {
				t.Fatalf("reply: policies applied differ (-evaluator +kernel):\n%s\n%s", polDiff, rctx)
			}
			if rerr == nil {
				if string(buf[:n]) != "re "+id || from.(*net.UDPAddr).AddrPort() != netip.AddrPortFrom(rp.final.Src, rp.final.SrcPort) {
					t.Fatalf("reply %q from %s, evaluator says from %s\n%s", buf[:n], from, netip.AddrPortFrom(rp.final.Src, rp.final.SrcPort), rctx)
				}
			}
		}
	}
	t.Logf("%d packets through %d random rulesets: %v, %d rewritten by NAT", sent, rulesets-from, stats, nat)
}

// dropOutput leaves out the router's OUTPUT policies, which its own ICMP errors pass.
// settledDiffs compares the rules and chain policies whose counters rose in namespace ns with
// what the evaluator says matched. veth hands a packet to the router in softirq context, so on
// a loaded machine the counters may rise after the sender stopped waiting: they are read until
// they agree or a second has passed, and a real disagreement is still one after that. adjust
// removes kernel policy counts the evaluator does not model.
func settledDiffs(t *testing.T, ns string, beforeRules, beforePol map[string]uint64, wantRules, wantPol map[string]int, adjust func(map[string]int)) (ruleDiff, polDiff string) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); ; time.Sleep(50 * time.Millisecond) {
		afterRules, afterPol := counters(t, ns)
		ruleDiff = cmpCounts(wantRules, rose(beforeRules, afterRules))
		kernelPol := dropOutput(rose(beforePol, afterPol))
		adjust(kernelPol)
		polDiff = cmpCounts(wantPol, kernelPol)
		if (ruleDiff == "" && polDiff == "") || time.Now().After(deadline) {
			return ruleDiff, polDiff
		}
	}
}

func dropOutput(pol map[string]int) map[string]int {
	for k := range pol {
		if strings.HasSuffix(k, "/OUTPUT") {
			delete(pol, k)
		}
	}
	return pol
}

// predictReply follows the reply to a delivered packet back through the router: in by r2,
// routed to the sender's side by r1.
func predictReply(t *testing.T, rs *Ruleset, env *Env, final nf.Packet) prediction {
	t.Helper()
	pr := prediction{matched: map[string]int{}, policies: map[string]int{}}
	p := final.Reply()
	p.In = "r2"
	for _, h := range []nf.Hook{nf.PreRouting, nf.Forward, nf.PostRouting} {
		if h == nf.Forward {
			p.Out = "r1"
		}
		outs := rs.Traverse(h, p, env)
		if len(outs) != 1 || outs[0].Verdict == nf.Unknown {
			t.Fatalf("reply at %s: %d outcomes, %+v", h, len(outs), outs)
		}
		o := outs[0]
		for _, s := range o.Trace {
			pr.trace = append(pr.trace, s.String())
			if s.Rule == nil {
				pr.policies[s.Table+"/"+s.Chain]++
			} else {
				pr.matched[fmt.Sprintf("%s/%s#%d", s.Table, s.Chain, s.Rule.(*Rule).Index)]++
			}
		}
		pr.verdict, pr.final, p = o.Verdict, o.Packet, o.Packet
		if o.Verdict != nf.Accept {
			break
		}
	}
	return pr
}

func cmpCounts(evaluator, kernel map[string]int) string {
	var lines []string
	for k, v := range evaluator {
		if kernel[k] != v {
			lines = append(lines, fmt.Sprintf("- %s: %d", k, v))
		}
	}
	for k, v := range kernel {
		if evaluator[k] != v {
			lines = append(lines, fmt.Sprintf("+ %s: %d", k, v))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
