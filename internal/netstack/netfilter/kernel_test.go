package netfilter

// The kernel decides the order of iptables' tables and nftables' base chains on a hook. This
// test loads both into the router namespace of an iptablestest.Lab (iptables-restore, then or
// before `nft -f`), reads them back as the collector does (iptables-save -c, nft -j list
// ruleset), sends a real UDP packet through, and compares where it arrived, with which
// addresses, with what the evaluator predicts. Needs root, iptables (nft backend), nft, ipset
// and conntrack; the namespaces (ndt-nf-<pid>-a/r/b) are deleted at the end.

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/netdiag/netdiag/internal/netstack/iptables"
	"github.com/netdiag/netdiag/internal/netstack/iptables/iptablestest"
	"github.com/netdiag/netdiag/internal/netstack/nf"
	"github.com/netdiag/netdiag/internal/netstack/nftables"
)

func labEnv() *iptables.Env {
	a := netip.MustParseAddr
	return &iptables.Env{
		Local:         map[netip.Addr]bool{a("10.10.1.1"): true, a("10.10.2.1"): true},
		LocalPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Broadcast:     map[netip.Addr]bool{a("10.10.1.255"): true, a("10.10.2.255"): true},
		Addrs: map[string][]netip.Prefix{
			"r1": {netip.MustParsePrefix("10.10.1.1/24")}, "r2": {netip.MustParsePrefix("10.10.2.1/24")},
		},
	}
}

func TestKernelOrder(t *testing.T) {
	l := iptablestest.NewLab(t, "ndt-nf", "nft", "iptables-restore", "iptables-save")
	const (
		natPre   = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
		dnat7002 = "-A PREROUTING -p udp -m udp --dport 7001 -j DNAT --to-destination 10.10.2.3:7002\n"
	)
	cases := map[string]struct {
		ipt, nft string
		// nftFirst loads the nftables table before the iptables tables: they register their
		// chains in that order, and at one priority the later registered runs first.
		nftFirst bool
		// want is where the packet arrives ("10.10.2.3:7002 from 10.10.1.2:P"), or "dropped".
		want string
	}{
		"iptables mangle marks, then nftables at -110 drops the mark": {
			ipt:  "*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j MARK --set-xmark 0x1/0xffffffff\nCOMMIT\n",
			nft:  nftText("ip t", "c", "type filter hook prerouting priority -110", "meta mark 0x1 counter drop"),
			want: "dropped",
		},
		"nftables at -200 runs before iptables mangle marks": {
			ipt:  "*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j MARK --set-xmark 0x1/0xffffffff\nCOMMIT\n",
			nft:  nftText("ip t", "c", "type filter hook prerouting priority -200", "meta mark 0x1 counter drop"),
			want: "10.10.2.2:7001",
		},
		"nat stage, equal priority, iptables registered first: the later nftables chain binds": {
			ipt:  natPre + dnat7002 + "COMMIT\n",
			nft:  nftText("ip t", "c", "type nat hook prerouting priority -100", "udp dport 7001 dnat to 10.10.2.2:7003"),
			want: "10.10.2.2:7003",
		},
		"nat stage, equal priority, nftables registered first: the later iptables table binds": {
			ipt:      natPre + dnat7002 + "COMMIT\n",
			nft:      nftText("ip t", "c", "type nat hook prerouting priority -100", "udp dport 7001 dnat to 10.10.2.2:7003"),
			nftFirst: true,
			want:     "10.10.2.3:7002",
		},
		"nat stage: an nftables chain at -150 binds before iptables' nat table": {
			ipt:  natPre + dnat7002 + "COMMIT\n",
			nft:  nftText("ip t", "c", "type nat hook prerouting priority -150", "udp dport 7001 dnat to 10.10.2.2:7003"),
			want: "10.10.2.2:7003",
		},
		"nat stage: an nftables chain that binds nothing leaves the packet to iptables": {
			ipt:  natPre + dnat7002 + "COMMIT\n",
			nft:  nftText("ip t", "c", "type nat hook prerouting priority -150", "udp dport 7004 dnat to 10.10.2.2:7003"),
			want: "10.10.2.3:7002",
		},
		"iptables filter accepts, an nftables filter chain after it drops": {
			ipt:  "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -j ACCEPT\nCOMMIT\n",
			nft:  nftText("inet guard", "forwarding", "type filter hook forward priority 10", "udp dport 7001 counter drop"),
			want: "dropped",
		},
		"source nat stage: the last registered binds (nftables, with its port)": {
			ipt:  "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o r2 -p udp -j SNAT --to-source 10.10.2.1\nCOMMIT\n",
			nft:  nftText("ip t", "c", "type nat hook postrouting priority srcnat", `oifname "r2" meta l4proto udp snat to 10.10.2.1:5555`),
			want: "10.10.2.2:7001 from 10.10.2.1:5555",
		},
		"source nat stage: the last registered binds (iptables SNAT keeps the port)": {
			ipt:      "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o r2 -p udp -j SNAT --to-source 10.10.2.1\nCOMMIT\n",
			nft:      nftText("ip t", "c", "type nat hook postrouting priority srcnat", `oifname "r2" meta l4proto udp snat to 10.10.2.1:5555`),
			nftFirst: true,
			want:     "10.10.2.2:7001 from 10.10.2.1:P",
		},
	}
	sport := 31000
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			iptablestest.RunIn(t, l.R, "", "nft", "flush", "ruleset")
			_ = exec.Command("ip", "netns", "exec", l.R, "conntrack", "-F").Run()
			if c.nftFirst {
				iptablestest.RunIn(t, l.R, c.nft, "nft", "-f", "-")
				iptablestest.RunIn(t, l.R, c.ipt, "iptables-restore")
			} else {
				iptablestest.RunIn(t, l.R, c.ipt, "iptables-restore")
				iptablestest.RunIn(t, l.R, c.nft, "nft", "-f", "-")
			}
			ipt, err := iptables.Parse(iptablestest.RunIn(t, l.R, "", "iptables-save", "-c"))
			if err != nil {
				t.Fatal(err)
			}
			listing := iptablestest.RunIn(t, l.R, "", "nft", "-j", "list", "ruleset")
			nrs, err := nftables.Parse(listing)
			if err != nil {
				t.Fatal(err)
			}
			rules := New(ipt, nrs, labEnv(), Options{})

			sport++
			src := netip.AddrPortFrom(netip.MustParseAddr("10.10.1.2"), uint16(sport))
			pkt := nf.Packet{Src: src.Addr(), SrcPort: src.Port(), Dst: netip.MustParseAddr("10.10.2.2"), DstPort: 7001, Proto: nf.ProtoUDP, In: "r1"}
			predicted, trace := predictForward(t, rules, pkt)

			conn := iptablestest.InNetns(t, l.A, func() (net.PacketConn, error) { return net.ListenPacket("udp4", src.String()) })
			defer conn.Close()
			id := fmt.Sprint(sport)
			if _, err := conn.WriteTo([]byte(id), &net.UDPAddr{IP: net.ParseIP("10.10.2.2"), Port: 7001}); err != nil {
				t.Fatal(err)
			}
			got := "dropped"
			wait := time.After(2 * time.Second)
			if predicted == "dropped" {
				wait = time.After(300 * time.Millisecond)
			}
		recv:
			for {
				select {
				case d := <-l.Recv:
					if d.Payload != id {
						continue
					}
					got = d.Local.String()
					if d.Src != src {
						got += " from " + strings.Replace(d.Src.String(), fmt.Sprint(sport), "P", 1)
					}
					break recv
				case <-wait:
					break recv
				}
			}
			if got != c.want {
				t.Errorf("the kernel: %s, want %s (the test's expectation is wrong)\nruleset:\n%s", got, c.want, listing)
			}
			if predicted != got {
				t.Errorf("the evaluator says %s, the kernel %s\ntrace:\n%s", predicted, got, trace)
			}
		})
	}
}

// predictForward follows the packet through PREROUTING, FORWARD (out r2) and POSTROUTING
// and says where it arrives, as the test names it.
func predictForward(t *testing.T, rules *Rules, pkt nf.Packet) (string, string) {
	t.Helper()
	var trace strings.Builder
	p := pkt
	for _, h := range []nf.Hook{nf.PreRouting, nf.Forward, nf.PostRouting} {
		if h != nf.PreRouting {
			p.Out = "r2"
		}
		outs := rules.Traverse(h, p)
		trace.WriteString(traces(outs))
		if len(outs) != 1 {
			t.Fatalf("%s: %d outcomes\n%s", h, len(outs), trace.String())
		}
		switch outs[0].Verdict {
		case nf.Accept:
		case nf.Drop, nf.Reject:
			return "dropped", trace.String()
		default:
			t.Fatalf("%s: %s\n%s", h, outs[0].Verdict, trace.String())
		}
		p = outs[0].Packet
	}
	s := netip.AddrPortFrom(p.Dst, p.DstPort).String()
	if p.Src != pkt.Src || p.SrcPort != pkt.SrcPort {
		s += " from " + strings.Replace(netip.AddrPortFrom(p.Src, p.SrcPort).String(), fmt.Sprint(pkt.SrcPort), "P", 1)
	}
	return s, trace.String()
}

// nftText is an nft script with one base chain of one rule.
func nftText(table, chain, spec, rule string) string {
	return fmt.Sprintf("table %s {\n\tchain %s {\n\t\t%s;\n\t\t%s\n\t}\n}\n", table, chain, spec, rule)
}
