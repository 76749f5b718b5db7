package iptables

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// parsedRule is what a test checks of a parsed rule: its place, header and each term as a
// short description.
type parsedRule struct {
	Table, Chain string
	Index        int
	Counters     string
	Header       string
	Matches      []string
	Target       string
	Goto         bool
}

func describe(r *Rule) parsedRule {
	pr := parsedRule{Table: r.Table, Chain: r.Chain, Index: r.Index, Header: r.Header.String(), Goto: r.Goto}
	if r.HasCounters {
		pr.Counters = fmt.Sprintf("%d:%d", r.Counters.Packets, r.Counters.Bytes)
	}
	for _, m := range r.Matches {
		pr.Matches = append(pr.Matches, describeMatch(m))
	}
	if r.Target != nil {
		pr.Target = describeTarget(r.Target)
	}
	return pr
}

func describeMatch(m Match) string {
	switch m := m.(type) {
	case *UnknownMatch:
		return fmt.Sprintf("unknown[%s](%s)", m.String(), m.Reason)
	case *CommentMatch:
		return "comment=" + m.Comment
	case *L4Match:
		s := fmt.Sprintf("%s", nf.ProtoName(m.Proto))
		if m.SPort != nil {
			s += fmt.Sprintf(" sport%s=%d:%d", neg(m.NotSPort), m.SPort.First, m.SPort.Last)
		}
		if m.DPort != nil {
			s += fmt.Sprintf(" dport%s=%d:%d", neg(m.NotDPort), m.DPort.First, m.DPort.Last)
		}
		if m.HasFlags {
			s += fmt.Sprintf(" flags%s=%#x/%#x", neg(m.NotFlags), m.FlagsComp, m.FlagsMask)
		}
		return s
	case *ConntrackMatch:
		return fmt.Sprintf("ctstate%s=%#x", neg(m.NotState), m.States)
	case *MarkMatch:
		return fmt.Sprintf("mark%s=%#x/%#x conn=%v", neg(m.Not), m.Value, m.Mask, m.Conn)
	case *StatisticMatch:
		return fmt.Sprintf("statistic %s share=%.4f", m.Mode, m.Share())
	case *AddrTypeMatch:
		return fmt.Sprintf("addrtype src%s=%#x dst%s=%#x", neg(m.NotSrc), m.Src, neg(m.NotDst), m.Dst)
	case *MultiportMatch:
		return fmt.Sprintf("multiport%s %s %v", neg(m.Not), m.Dir, m.Ranges)
	case *SetMatch:
		return fmt.Sprintf("set%s %s %v", neg(m.Not), m.Set, m.Dirs)
	}
	return fmt.Sprintf("%T[%s]", m, m.String())
}

func describeTarget(t Target) string {
	switch t := t.(type) {
	case *JumpTarget:
		return "jump " + t.Chain
	case *NATTarget:
		return fmt.Sprintf("%s %s:%d range=%v random-fully=%v", t.name, t.Addr, t.Port, t.Range, t.FullyRandom)
	case *MarkTarget:
		return fmt.Sprintf("%s %s %#x/%#x", t.name, t.Op, t.Xor, t.Mask)
	case *RejectTarget:
		return "REJECT " + t.With
	case *UnknownTarget:
		return fmt.Sprintf("unknown[%s](%s)", t.String(), t.Reason)
	}
	return t.Name()
}

func neg(b bool) string {
	if b {
		return "!"
	}
	return ""
}

func TestParseRules(t *testing.T) {
	cases := map[string]struct {
		save string
		want []parsedRule
	}{
		"counters and a kube-proxy service rule": {
			save: `*nat
:PREROUTING ACCEPT [10:600]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-X - [0:0]
[7:420] -A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "shop/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-X
COMMIT
`,
			want: []parsedRule{{Table: "nat", Chain: "KUBE-SERVICES", Index: 1, Counters: "7:420", Header: "-d 10.96.0.10/32 -p tcp",
				Matches: []string{"comment=shop/web:http cluster IP", "tcp dport=80:80"}, Target: "jump KUBE-SVC-X"}},
		},
		"negations of header, module and option": {
			save: `*filter
:FORWARD DROP [0:0]
-A FORWARD ! -s 10.244.0.0/16 ! -i cni+ -p udp -m udp ! --dport 1000:2000 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
COMMIT
`,
			want: []parsedRule{{Table: "filter", Chain: "FORWARD", Index: 1, Header: "! -s 10.244.0.0/16 ! -i cni+ -p udp",
				Matches: []string{"udp dport!=1000:2000", "ctstate!=0x4c"}, Target: "DROP"}},
		},
		"quoted comment with escapes": {
			save: `*filter
:INPUT ACCEPT [0:0]
-A INPUT -m comment --comment "say \"hi\" and \\ bye" -j ACCEPT
COMMIT
`,
			want: []parsedRule{{Table: "filter", Chain: "INPUT", Index: 1, Matches: []string{`comment=say "hi" and \ bye`}, Target: "ACCEPT"}},
		},
		"unknown module and target are kept, the rest parses": {
			save: `*filter
:OUTPUT ACCEPT [0:0]
-A OUTPUT -m owner --uid-owner 1000 -m tcp -p tcp --dport 22 -j ACCEPT
-A OUTPUT -p tcp -j TEE --gateway 10.0.0.1
-A OUTPUT -p tcp -m tcp --tcp-option 5 -j DROP
COMMIT
`,
			want: []parsedRule{
				{Table: "filter", Chain: "OUTPUT", Index: 1, Header: "-p tcp", Matches: []string{
					"unknown[-m owner --uid-owner 1000](module owner)", "tcp",
					// iptables-save never writes an option apart from its module; one that is
					// stays undecided rather than guessed.
					"unknown[--dport 22](option --dport)"}, Target: "ACCEPT"},
				{Table: "filter", Chain: "OUTPUT", Index: 2, Header: "-p tcp", Target: "unknown[-j TEE --gateway 10.0.0.1](target TEE)"},
				{Table: "filter", Chain: "OUTPUT", Index: 3, Header: "-p tcp", Matches: []string{"unknown[-m tcp --tcp-option 5](option --tcp-option)"}, Target: "DROP"},
			},
		},
		"NAT, mark and statistic targets": {
			save: `*nat
:POSTROUTING ACCEPT [0:0]
:KUBE-SEP-A - [0:0]
:KUBE-SVC-X - [0:0]
:KUBE-MARK-MASQ - [0:0]
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-SVC-X -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-A
-A KUBE-SEP-A -p tcp -m tcp -j DNAT --to-destination 10.244.1.11:8080
-A POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A POSTROUTING -j MASQUERADE --random-fully
-A POSTROUTING -o eth0 -j SNAT --to-source 192.0.2.1-192.0.2.9
-A POSTROUTING -g KUBE-SVC-X
COMMIT
`,
			want: []parsedRule{
				{Table: "nat", Chain: "POSTROUTING", Index: 1, Matches: []string{"mark!=0x4000/0x4000 conn=false"}, Target: "RETURN"},
				{Table: "nat", Chain: "POSTROUTING", Index: 2, Target: "MASQUERADE invalid IP:0 range=false random-fully=true"},
				{Table: "nat", Chain: "POSTROUTING", Index: 3, Header: "-o eth0", Target: "SNAT 192.0.2.1:0 range=true random-fully=false"},
				{Table: "nat", Chain: "POSTROUTING", Index: 4, Target: "jump KUBE-SVC-X", Goto: true},
				{Table: "nat", Chain: "KUBE-SEP-A", Index: 1, Header: "-p tcp", Matches: []string{"tcp"}, Target: "DNAT 10.244.1.11:8080 range=false random-fully=false"},
				{Table: "nat", Chain: "KUBE-SVC-X", Index: 1, Matches: []string{"statistic random share=0.3333"}, Target: "jump KUBE-SEP-A"},
				{Table: "nat", Chain: "KUBE-MARK-MASQ", Index: 1, Target: "MARK xset 0x4000/0x4000"},
			},
		},
		"addrtype, multiport and set": {
			save: `*filter
:INPUT ACCEPT [0:0]
-A INPUT -m addrtype --dst-type LOCAL -m multiport --dports 80,443,8000:8080 -m set ! --match-set KUBE-X dst,dst -j ACCEPT
COMMIT
`,
			want: []parsedRule{{Table: "filter", Chain: "INPUT", Index: 1,
				Matches: []string{"addrtype src=0x0 dst=0x2", "multiport d [{80 80} {443 443} {8000 8080}]", "set! KUBE-X [dst dst]"}, Target: "ACCEPT"}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rs, err := Parse(tc.save)
			if err != nil {
				t.Fatal(err)
			}
			var got []parsedRule
			rs.AllRules(func(r *Rule) { got = append(got, describe(r)) })
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseChainsAndPolicies(t *testing.T) {
	save := `# Generated by iptables-save v1.8.9 (nf_tables)
*raw
:PREROUTING ACCEPT [1:2]
:OUTPUT ACCEPT [3:4]
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
COMMIT
*filter
:INPUT DROP [5:600]
:FORWARD ACCEPT [0:0]
:MY-CHAIN - [0:0]
-A INPUT -j MY-CHAIN
COMMIT
*security
:INPUT ACCEPT [0:0]
COMMIT
`
	rs, err := Parse(save)
	if err != nil {
		t.Fatal(err)
	}
	type chain struct {
		Name, Policy string
		Builtin      bool
		Counters     Counters
		Rules        int
	}
	got := map[string][]chain{}
	for name, tbl := range rs.Tables {
		for _, c := range tbl.Order {
			got[name] = append(got[name], chain{c.Name, c.Policy, c.Builtin(), c.PolicyCounters, len(c.Rules)})
		}
	}
	want := map[string][]chain{
		"raw":      {{"PREROUTING", "ACCEPT", true, Counters{1, 2}, 0}, {"OUTPUT", "ACCEPT", true, Counters{3, 4}, 0}},
		"mangle":   {{"PREROUTING", "ACCEPT", true, Counters{}, 0}},
		"nat":      {{"PREROUTING", "ACCEPT", true, Counters{}, 0}},
		"filter":   {{"INPUT", "DROP", true, Counters{5, 600}, 1}, {"FORWARD", "ACCEPT", true, Counters{}, 0}, {"MY-CHAIN", "", false, Counters{}, 0}},
		"security": {{"INPUT", "ACCEPT", true, Counters{}, 0}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chains (-want +got):\n%s", diff)
	}
	if rs.Rules != 1 {
		t.Errorf("Rules = %d, want 1", rs.Rules)
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]struct {
		save string
		want string
	}{
		"rule outside a table":  {"-A INPUT -j ACCEPT\n", "line 1: rule"},
		"chain without policy":  {"*filter\n:INPUT\n", "line 2: chain line"},
		"unterminated quote":    {"*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment \"open -j ACCEPT\n", "line 3: unterminated quote"},
		"unknown command":       {"*filter\n-X INPUT\n", "line 2: unknown command"},
		"bad counters on rule":  {"*filter\n[x:y] -A INPUT -j ACCEPT\n", "line 2: bad counters"},
		"chain outside a table": {":INPUT ACCEPT [0:0]\n", "line 1: chain"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(tc.save)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestRuleTextAndCountersKept(t *testing.T) {
	rs, err := Parse("*filter\n:INPUT ACCEPT [0:0]\n[12:3400] -A INPUT -s 10.0.0.0/8 -m comment --comment \"a b\" -j DROP\n")
	if err != nil {
		t.Fatal(err)
	}
	r := rs.Chain("filter", "INPUT").Rules[0]
	if got, want := r.String(), `[12:3400] -A INPUT -s 10.0.0.0/8 -m comment --comment "a b" -j DROP`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if r.Line != 3 {
		t.Errorf("Line = %d, want 3", r.Line)
	}
	_ = netip.Addr{}
}

func TestParseScatteredChainAndCommands(t *testing.T) {
	// Not as iptables-save writes it, but as a person might: -N, -P and a chain's rules
	// apart from each other. Each chain keeps its own rules in order.
	rs := mustParse(t, `*filter
-N MINE
-P INPUT DROP
-A INPUT -s 10.0.0.1/32 -j MINE
-A MINE -j RETURN
-A INPUT -s 10.0.0.2/32 -j ACCEPT
COMMIT
`)
	var got []string
	for _, c := range []string{"INPUT", "MINE"} {
		for _, r := range rs.Chain("filter", c).Rules {
			got = append(got, fmt.Sprintf("%s#%d %s", r.Chain, r.Index, r.Text))
		}
	}
	want := []string{"INPUT#1 -A INPUT -s 10.0.0.1/32 -j MINE", "INPUT#2 -A INPUT -s 10.0.0.2/32 -j ACCEPT", "MINE#1 -A MINE -j RETURN"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	if p := rs.Chain("filter", "INPUT").Policy; p != "DROP" {
		t.Errorf("INPUT policy = %q, want DROP", p)
	}
	out := rs.Traverse(nf.Input, tcpPkt("10.0.0.1", 1, "10.0.0.9", 22), nil)
	if len(out) != 1 || out[0].Verdict != nf.Drop {
		t.Errorf("10.0.0.1 through MINE and back: %+v, want the DROP policy", out)
	}
}
