package iptables

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack/iptables/iptablestest"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// TestProtocolNamesAsTheKernelSaves loads rules with protocols given by number and by name
// into a namespace, saves them with iptables-save and parses the save: every rule must match
// the protocol number it was loaded with. iptables-save names protocols after /etc/protocols,
// where 4 (IP in IP, calico's tunnel) is "ipencap" and "ipip" is 94.
func TestProtocolNamesAsTheKernelSaves(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the kernel test needs root")
	}
	if _, err := exec.LookPath("iptables-save"); err != nil {
		t.Skip("the kernel test needs iptables-save")
	}
	ns := fmt.Sprintf("ndt-nft-proto-%d", os.Getpid())
	iptablestest.Run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })

	loaded := map[string]uint8{"4": 4, "ipencap": 4, "94": 94, "ipip": 94, "47": 47, "gre": 47, "132": 132, "udplite": 136}
	order := []string{"4", "ipencap", "94", "ipip", "47", "gre", "132", "udplite"}
	var restore strings.Builder
	restore.WriteString("*filter\n:INPUT ACCEPT [0:0]\n")
	for _, p := range order {
		fmt.Fprintf(&restore, "-A INPUT -p %s -m comment --comment %q -j ACCEPT\n", p, "loaded as "+p)
	}
	restore.WriteString("COMMIT\n")
	iptablestest.RunIn(t, ns, restore.String(), "iptables-restore")
	saved := iptablestest.RunIn(t, ns, "", "iptables-save", "-t", "filter")

	rs, err := Parse(saved)
	if err != nil {
		t.Fatalf("parse:\n%s\n%v", saved, err)
	}
	got := map[string]uint8{}
	for _, r := range rs.Tables[TableFilter].Chains["INPUT"].Rules {
		for _, m := range r.Matches {
			if c, ok := m.(*CommentMatch); ok {
				got[strings.TrimPrefix(c.Comment, "loaded as ")] = r.Header.Proto
			}
		}
		for _, m := range r.Matches {
			if u, ok := m.(*UnknownMatch); ok {
				t.Errorf("rule %q: protocol not understood: %s", r.Text, u.Reason)
			}
		}
	}
	if diff := cmp.Diff(loaded, got); diff != "" {
		t.Errorf("protocol numbers (-loaded +parsed from the save):\n%s\n%s", diff, saved)
	}
}

// TestProtocolRoundTrip checks that the engine's protocol names survive the evaluator's
// packet and back, so that a tunnel packet of IP protocol 4 stays protocol 4 through a hook.
func TestProtocolRoundTrip(t *testing.T) {
	cases := map[string]struct {
		proto model.Protocol
		num   uint8
	}{
		"IP in IP as iptables-save names it": {"IPENCAP", nf.ProtoIPEncap},
		"protocol 94":                        {"IPIP", nf.ProtoIPIP},
		"gre":                                {"GRE", 47},
		"tcp":                                {model.TCP, nf.ProtoTCP},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := nf.FromModel(model.Packet{Protocol: c.proto})
			if p.Proto != c.num {
				t.Errorf("FromModel(%s).Proto = %d, want %d", c.proto, p.Proto, c.num)
			}
			if got := p.Model().Protocol; got != c.proto {
				t.Errorf("round trip gives %s, want %s", got, c.proto)
			}
		})
	}
}
