package iptables

import (
	"os"
	"strings"
	"testing"

	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// FuzzParse checks that Parse never panics, that what it accepts can be evaluated at every
// hook without panicking, and that every rule keeps its saved text as a line of the input.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("testdata/kube-proxy.iptables"); err == nil {
		f.Add(string(b))
	}
	for _, s := range []string{
		"*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 10.0.0.0/8 -p tcp -m tcp --dport 80:90 -j ACCEPT\nCOMMIT\n",
		"*nat\n:PREROUTING ACCEPT [0:0]\n:X - [0:0]\n[1:2] -A PREROUTING -m statistic --mode random --probability 0.5 -j X\n-A X -j DNAT --to-destination [::1]:80\n",
		"*filter\n:INPUT DROP [0:0]\n-A INPUT -m comment --comment \"a \\\"b\\\"\" ! -i lo+ -m conntrack ! --ctstate NEW,DNAT -g INPUT\n",
		"*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m set --match-set S src,dst -j MARK --set-xmark 0x1/0xff\n",
		"*raw\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p tcp -m tcp --dport ! 22 -j CT --notrack\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, save string) {
		rs, err := Parse(save)
		if err != nil {
			return
		}
		rs.AllRules(func(r *Rule) {
			if !strings.Contains(save, r.Text) {
				t.Fatalf("rule text %q is not in the input", r.Text)
			}
		})
		env := &Env{MaxSteps: 10_000, MaxOutcomes: 64}
		for _, h := range []nf.Hook{nf.PreRouting, nf.Input, nf.Forward, nf.Output, nf.PostRouting} {
			for _, pkt := range []nf.Packet{
				tcpPkt("10.0.0.1", 1000, "10.96.0.10", 80),
				udpPkt("192.168.0.1", 53, "127.0.0.1", 53).Reply(),
			} {
				for _, o := range rs.Traverse(h, pkt, env) {
					if o.Verdict == "" {
						t.Fatalf("outcome without a verdict at %s", h)
					}
				}
			}
		}
	})
}
