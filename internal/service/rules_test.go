package service

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRule(t *testing.T) {
	cases := map[string]struct {
		line    string
		chain   string
		target  string
		comment string
		conds   int
		wantErr bool
	}{
		"counters, negation and quoted comment": {
			line:  `[3:180] -A KUBE-SVC-X ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m comment --comment "shop/web:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ`,
			chain: "KUBE-SVC-X", target: "KUBE-MARK-MASQ", comment: "shop/web:http cluster IP", conds: 5,
		},
		"escaped quote in a comment": {
			line:  `-A INPUT -m comment --comment "say \"hi\"" -j ACCEPT`,
			chain: "INPUT", target: "ACCEPT", comment: `say "hi"`, conds: 1,
		},
		"empty nfacct value keeps later options": {
			line:  `-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name  ct_state_invalid_dropped_pkts -j DROP`,
			chain: "KUBE-FORWARD", target: "DROP", conds: 2,
		},
		"no target":          {line: `-A FORWARD -d 10.0.0.1/32`, chain: "FORWARD", conds: 1},
		"unterminated quote": {line: `-A X -m comment --comment "open`, wantErr: true},
		"not an append":      {line: `-I X 1 -j ACCEPT`, wantErr: true},
		"stray word":         {line: `-A X foo -j ACCEPT`, wantErr: true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r, err := parseRule(c.line)
			if c.wantErr {
				if err == nil {
					t.Fatalf("parseRule(%q): no error", c.line)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := [4]any{r.chain, r.target, r.comment, len(r.conds)}
			if diff := cmp.Diff([4]any{c.chain, c.target, c.comment, c.conds}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseRecorded reads every rule kube-proxy wrote, with none lost.
func TestParseRecorded(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "iptables", "node-a.iptables"))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := parseRuleset(string(b))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tbl := range rs.tables {
		for _, c := range tbl {
			n += len(c.rules)
		}
	}
	if want := strings.Count(string(b), "] -A "); n != want {
		t.Errorf("parsed %d rules, the save has %d", n, want)
	}
	if c := rs.lookup("nat", "PREROUTING"); c == nil || c.policy != "ACCEPT" {
		t.Errorf("nat PREROUTING = %+v, want a built-in chain with policy ACCEPT", c)
	}
}

func FuzzParseRuleset(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "iptables", "node-a.iptables")); err == nil {
		f.Add(string(b))
	}
	f.Add("*nat\n:X - [0:0]\n-A X -m comment --comment \"a \\\"b\\\"\" -j RETURN\nCOMMIT\n")
	f.Add("*filter\n[1:2] -A INPUT ! -p udp -m multiport --dports 1:2,3 -j DROP\n")
	f.Fuzz(func(t *testing.T, text string) {
		rs, err := parseRuleset(text)
		if err != nil {
			return
		}
		// Whatever parses can be walked without panicking or looping.
		for _, tbl := range rs.tables {
			for _, c := range tbl {
				if !c.builtinLike() {
					continue
				}
				w := &walker{rs: rs, table: c.table}
				w.run(c.name, pkt("TCP", "10.0.0.1", "10.0.0.2", 80))
			}
		}
	})
}
