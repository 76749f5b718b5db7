package netfilter

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/iptables"
	"github.com/netdiag/netdiag/internal/netstack/nf"
	"github.com/netdiag/netdiag/internal/netstack/nftables"
)

// A router namespace: r1 towards the clients (10.10.1.0/24), r2 towards the servers
// (10.10.2.0/24).
func env(t *testing.T) *iptables.Env {
	t.Helper()
	e, err := iptables.EnvFromNetstack(&netstack.Netstack{Interfaces: []netstack.Interface{
		{Name: "lo", Kind: "loopback", Addresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
		{Name: "r1", Kind: "veth", Addresses: []netip.Prefix{netip.MustParsePrefix("10.10.1.1/24")}},
		{Name: "r2", Kind: "veth", Addresses: []netip.Prefix{netip.MustParsePrefix("10.10.2.1/24")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// save writes iptables-save text from tables of "-A ..." rules.
func save(tables map[string][]string) string {
	var b strings.Builder
	names := make([]string, 0, len(tables))
	for n := range tables {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&b, "*%s\n", n)
		for _, c := range []string{"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"} {
			fmt.Fprintf(&b, ":%s ACCEPT [0:0]\n", c)
		}
		for _, r := range tables[n] {
			b.WriteString(r + "\n")
		}
		b.WriteString("COMMIT\n")
	}
	return b.String()
}

// nft writes an `nft -j list ruleset` document with one table ip t and the given chains
// (name: type, hook, prio) and rules (chain: statements as JSON).
type nftChain struct {
	name, typ, hook string
	prio            int
	rules           []string
}

func nft(tables ...[]nftChain) string {
	var objs []string
	for i, chains := range tables {
		name := fmt.Sprintf("t%d", i)
		objs = append(objs, fmt.Sprintf(`{"table": {"family": "ip", "name": %q}}`, name))
		for _, c := range chains {
			objs = append(objs, fmt.Sprintf(`{"chain": {"family": "ip", "table": %q, "name": %q, "type": %q, "hook": %q, "prio": %d, "policy": "accept"}}`, name, c.name, c.typ, c.hook, c.prio))
			for _, r := range c.rules {
				objs = append(objs, fmt.Sprintf(`{"rule": {"family": "ip", "table": %q, "chain": %q, "expr": %s}}`, name, c.name, r))
			}
		}
	}
	return `{"nftables": [` + strings.Join(objs, ",\n") + `]}`
}

const (
	markIs1Drop = `[{"match": {"op": "==", "left": {"meta": {"key": "mark"}}, "right": 1}}, {"drop": null}]`
	dnatTo9     = `[{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "10.96.0.1"}}, {"dnat": {"addr": "10.10.2.9", "port": 8080}}]`
	dnatOther   = `[{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "10.96.0.2"}}, {"dnat": {"addr": "10.10.2.9", "port": 8080}}]`
	numgen2     = `[{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "10.96.0.1"}}, {"dnat": {"family": "ip", "addr": {"map": {"key": {"numgen": {"mode": "random", "mod": 2, "offset": 0}}, "data": {"set": [[0, {"concat": ["10.10.2.2", 8080]}], [1, {"concat": ["10.10.2.3", 8080]}]]}}}}}]`
	dropPort81  = `[{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 81}}, {"drop": null}]`
)

const (
	iptMark1  = "-A PREROUTING -j MARK --set-xmark 0x1/0xffffffff"
	iptDNAT5  = "-A PREROUTING -d 10.96.0.1/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.10.2.5:8080"
	iptHalfDr = "-A FORWARD -m statistic --mode random --probability 0.50000000000 -j DROP"
)

type way struct {
	Verdict nf.Verdict
	Packet  string
	Share   string
	Ruleset string
}

func ways(outs []nf.Outcome) []way {
	var got []way
	for _, o := range outs {
		got = append(got, way{o.Verdict, o.Packet.Model().String(), fmt.Sprintf("%.2f", o.Probability), o.Ruleset})
	}
	slices.SortFunc(got, func(a, b way) int { return strings.Compare(a.Packet+string(a.Verdict), b.Packet+string(b.Verdict)) })
	return got
}

func traces(outs []nf.Outcome) string {
	var b strings.Builder
	for i, o := range outs {
		fmt.Fprintf(&b, "outcome %d: %s %s p=%.2f by %s %s\n", i, o.Verdict, o.Packet.Model(), o.Probability, o.Ruleset, o.Note)
		for _, s := range o.Trace {
			fmt.Fprintf(&b, "  %s\n", s)
		}
		for _, n := range o.NAT {
			fmt.Fprintf(&b, "  nat %s\n", n)
		}
	}
	return b.String()
}

func packet(src string, sport uint16, dst string, dport uint16, in, out string) nf.Packet {
	return nf.Packet{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: nf.ProtoTCP, SrcPort: sport, DstPort: dport, TCPFlags: nf.TCPSyn, In: in, Out: out}
}

func TestPriorityOrder(t *testing.T) {
	toService := packet("10.10.1.2", 40000, "10.96.0.1", 80, "r1", "")
	cases := map[string]struct {
		ipt  map[string][]string
		nft  string
		hook nf.Hook
		pkt  nf.Packet
		want []way
	}{
		"iptables mangle (-150) marks before an nftables chain at -110 reads the mark": {
			ipt:  map[string][]string{"mangle": {iptMark1}},
			nft:  nft([]nftChain{{"pre", "filter", "prerouting", -110, []string{markIs1Drop}}}),
			hook: nf.PreRouting, pkt: toService,
			want: []way{{nf.Drop, "TCP 10.10.1.2:40000 -> 10.96.0.1:80", "1.00", nf.NFTables}},
		},
		"an nftables chain at -200 runs before iptables mangle marks": {
			ipt:  map[string][]string{"mangle": {iptMark1}},
			nft:  nft([]nftChain{{"pre", "filter", "prerouting", -200, []string{markIs1Drop}}}),
			hook: nf.PreRouting, pkt: toService,
			want: []way{{nf.Accept, "TCP 10.10.1.2:40000 -> 10.96.0.1:80", "1.00", ""}},
		},
		"nat stage at one priority: the nftables chain registered after iptables' table binds first": {
			ipt:  map[string][]string{"nat": {iptDNAT5}},
			nft:  nft([]nftChain{{"nat", "nat", "prerouting", -100, []string{dnatTo9}}}),
			hook: nf.PreRouting, pkt: toService,
			want: []way{{nf.Accept, "TCP 10.10.1.2:40000 -> 10.10.2.9:8080", "1.00", ""}},
		},
		"nat stage at one priority: iptables-nft's table made after the nftables one binds first": {
			ipt: map[string][]string{"nat": {iptDNAT5}},
			nft: `{"nftables": [{"table": {"family": "ip", "name": "t0"}},
{"chain": {"family": "ip", "table": "t0", "name": "nat", "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
{"rule": {"family": "ip", "table": "t0", "chain": "nat", "expr": ` + dnatTo9 + `}},
{"table": {"family": "ip", "name": "nat"}},
{"chain": {"family": "ip", "table": "nat", "name": "PREROUTING", "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}}]}`,
			hook: nf.PreRouting, pkt: toService,
			want: []way{{nf.Accept, "TCP 10.10.1.2:40000 -> 10.10.2.5:8080", "1.00", ""}},
		},
		"nat stage: an nftables nat chain of higher priority (-150) binds first": {
			ipt:  map[string][]string{"nat": {iptDNAT5}},
			nft:  nft([]nftChain{{"nat", "nat", "prerouting", -150, []string{dnatTo9}}}),
			hook: nf.PreRouting, pkt: toService,
			want: []way{{nf.Accept, "TCP 10.10.1.2:40000 -> 10.10.2.9:8080", "1.00", ""}},
		},
		"nat stage: an nftables nat chain that translates nothing lets iptables' nat run": {
			ipt:  map[string][]string{"nat": {iptDNAT5}},
			nft:  nft([]nftChain{{"nat", "nat", "prerouting", -150, []string{dnatOther}}}),
			hook: nf.PreRouting, pkt: toService,
			want: []way{{nf.Accept, "TCP 10.10.1.2:40000 -> 10.10.2.5:8080", "1.00", ""}},
		},
		"branches multiply: nftables' numgen at the nat stage, then iptables' statistic in filter": {
			ipt:  map[string][]string{"filter": {"-A OUTPUT -m statistic --mode random --probability 0.50000000000 -j DROP"}},
			nft:  nft([]nftChain{{"nat", "nat", "output", -100, []string{numgen2}}}),
			hook: nf.Output, pkt: packet("10.10.1.1", 40000, "10.96.0.1", 80, "", "r2"),
			want: []way{
				{nf.Accept, "TCP 10.10.1.1:40000 -> 10.10.2.2:8080", "0.25", ""},
				{nf.Drop, "TCP 10.10.1.1:40000 -> 10.10.2.2:8080", "0.25", nf.IPTables},
				{nf.Accept, "TCP 10.10.1.1:40000 -> 10.10.2.3:8080", "0.25", ""},
				{nf.Drop, "TCP 10.10.1.1:40000 -> 10.10.2.3:8080", "0.25", nf.IPTables},
			},
		},
		"a drop in an nftables filter chain after iptables' filter accepted": {
			ipt:  map[string][]string{"filter": {"-A FORWARD -j ACCEPT"}},
			nft:  nft([]nftChain{{"fwd", "filter", "forward", 10, []string{dropPort81}}}),
			hook: nf.Forward, pkt: packet("10.10.1.2", 40000, "10.10.2.2", 81, "r1", "r2"),
			want: []way{{nf.Drop, "TCP 10.10.1.2:40000 -> 10.10.2.2:81", "1.00", nf.NFTables}},
		},
		"iptables-nft's own tables in the listing are left to iptables-save": {
			ipt: map[string][]string{"filter": {"-A FORWARD -m foo --bar -j ACCEPT"}},
			nft: `{"nftables": [{"table": {"family": "ip", "name": "filter"}},
{"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}},
{"rule": {"family": "ip", "table": "filter", "chain": "FORWARD", "expr": [{"xt": {"type": "match", "name": "foo"}}, {"drop": null}]}}]}`,
			hook: nf.Forward, pkt: packet("10.10.1.2", 40000, "10.10.2.2", 81, "r1", "r2"),
			// iptables-save's rule has an unknown match whose target is ACCEPT: Unknown,
			// decided by iptables (the xt statement of its nft form is never reached).
			want: []way{{nf.Unknown, "TCP 10.10.1.2:40000 -> 10.10.2.2:81", "1.00", nf.IPTables}},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			ipt, err := iptables.Parse(save(c.ipt))
			if err != nil {
				t.Fatal(err)
			}
			nrs, err := nftables.Parse(c.nft)
			if err != nil {
				t.Fatal(err)
			}
			outs := New(ipt, nrs, env(t), Options{}).Traverse(c.hook, c.pkt)
			if diff := cmp.Diff(c.want, ways(outs)); diff != "" {
				t.Errorf("(-want +got):\n%s\n%s", diff, traces(outs))
			}
		})
	}
}

// TestReplyReversedOnce sends a connection's first packet through a node whose iptables
// DNATs it and whose nftables masquerades it, then its reply: both rulesets have a nat stage
// on the reply's hooks, and conntrack reverses each translation exactly once.
func TestReplyReversedOnce(t *testing.T) {
	ipt, err := iptables.Parse(save(map[string][]string{"nat": {iptDNAT5}}))
	if err != nil {
		t.Fatal(err)
	}
	masq := `[{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "r2"}}, {"masquerade": null}]`
	nrs, err := nftables.Parse(nft([]nftChain{{"post", "nat", "postrouting", 100, []string{masq}}}))
	if err != nil {
		t.Fatal(err)
	}
	rules := New(ipt, nrs, env(t), Options{})
	p := packet("10.10.1.2", 40000, "10.96.0.1", 80, "r1", "")
	for _, h := range []nf.Hook{nf.PreRouting, nf.Forward, nf.PostRouting} {
		p.Out = "r2"
		outs := rules.Traverse(h, p)
		if len(outs) != 1 || outs[0].Verdict != nf.Accept {
			t.Fatalf("forward %s:\n%s", h, traces(outs))
		}
		p = outs[0].Packet
	}
	if got, want := p.Model().String(), "TCP 10.10.2.1:40000 -> 10.10.2.5:8080"; got != want {
		t.Fatalf("forward packet leaves as %s, want %s", got, want)
	}
	r := p.Reply()
	r.In, r.Out = "r2", "r1"
	var nats []string
	for _, h := range []nf.Hook{nf.PreRouting, nf.Forward, nf.PostRouting} {
		outs := rules.Traverse(h, r)
		if len(outs) != 1 || outs[0].Verdict != nf.Accept {
			t.Fatalf("reply %s:\n%s", h, traces(outs))
		}
		for _, n := range outs[0].NAT {
			nats = append(nats, n.String())
		}
		r = outs[0].Packet
	}
	if got, want := r.Model().String(), "TCP 10.96.0.1:80 -> 10.10.1.2:40000"; got != want {
		t.Errorf("reply leaves as %s, want %s", got, want)
	}
	want := []string{"un-SNAT 10.10.2.1:40000 -> 10.10.1.2:40000", "un-DNAT 10.10.2.5:8080 -> 10.96.0.1:80"}
	if diff := cmp.Diff(want, nats); diff != "" {
		t.Errorf("conntrack's reversals (-want +got):\n%s", diff)
	}
}

// TestKubeProxyFixture walks the recorded kube-proxy nftables ruleset next to iptables
// rules flannel writes, on a pod's packet to a service.
func TestKubeProxyFixture(t *testing.T) {
	text := readFixture(t)
	nrs, err := nftables.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	ipt, err := iptables.Parse(save(map[string][]string{
		"filter": {`-A FORWARD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT`},
		"nat":    {`-A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`},
	}))
	if err != nil {
		t.Fatal(err)
	}
	rules := New(ipt, nrs, env(t), Options{})
	pre := rules.Traverse(nf.PreRouting, packet("10.244.1.20", 40000, "10.96.0.10", 80, "r1", ""))
	if diff := cmp.Diff([]way{
		{nf.Accept, "TCP 10.244.1.20:40000 -> 10.244.1.11:8080", "0.33", ""},
		{nf.Accept, "TCP 10.244.1.20:40000 -> 10.244.1.12:8080", "0.33", ""},
		{nf.Accept, "TCP 10.244.1.20:40000 -> 10.244.2.13:8080", "0.33", ""},
	}, ways(pre)); diff != "" {
		t.Fatalf("(-want +got):\n%s\n%s", diff, traces(pre))
	}
	// Through FORWARD both rulesets' filter chains accept.
	p := pre[0].Packet
	p.Out = "r2"
	fwd := rules.Traverse(nf.Forward, p)
	if len(fwd) != 1 || fwd[0].Verdict != nf.Accept {
		t.Fatalf("forward:\n%s", traces(fwd))
	}
	var rulesets []string
	for _, s := range fwd[0].Trace {
		if !slices.Contains(rulesets, s.Ruleset) {
			rulesets = append(rulesets, s.Ruleset)
		}
	}
	// Both filter chains are at priority 0; kube-proxy made its table after iptables-nft
	// made "ip filter" (the listing's order), so its chain runs first.
	if diff := cmp.Diff([]string{nf.NFTables, nf.IPTables}, rulesets); diff != "" {
		t.Errorf("rulesets on the way (-want +got):\n%s\n%s", diff, traces(fwd))
	}
}

func readFixture(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("../iptables/testdata/kube-proxy.nft.json")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
