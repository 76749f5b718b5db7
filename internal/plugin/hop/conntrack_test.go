package hop

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/netfilter"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

func tcp(src, dst string) model.Packet {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	return model.Packet{Protocol: model.TCP, Src: s.Addr(), SrcPort: s.Port(), Dst: d.Addr(), DstPort: d.Port()}
}

// natNode is a node that masquerades its pods' traffic leaving the pod network and DNATs a
// service address and a node port, with kube-proxy-like iptables rules.
func natNode() *netstack.Netstack {
	return &netstack.Netstack{
		Interfaces: []netstack.Interface{
			{Index: 1, Name: "lo", Kind: "loopback", Up: true, Addresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
			{Index: 2, Name: "eth0", Kind: "veth", Up: true, Addresses: []netip.Prefix{netip.MustParsePrefix("172.18.1.2/16")}},
			{Index: 3, Name: "cni0", Kind: "bridge", Up: true, Addresses: []netip.Prefix{netip.MustParsePrefix("10.244.0.1/24")}},
		},
		IPTables: `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.10:8080
-A PREROUTING -d 172.18.1.2/32 -p tcp -m tcp --dport 30080 -j DNAT --to-destination 10.244.1.10:8080
-A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE
-A POSTROUTING ! -s 10.244.0.0/16 -d 10.244.0.0/16 -j MASQUERADE
COMMIT
`,
	}
}

// TestConntrackThroughTheHooks follows a forward packet through a node's hooks with the
// connection the hop carries, remembers the connection it left with, and sends the reply
// back: the evaluator's nat stages give the reply the addresses the client used, at
// PREROUTING (a masquerade reversed) and POSTROUTING (a DNAT reversed), and only for the
// reply of that connection.
func TestConntrackThroughTheHooks(t *testing.T) {
	cases := map[string]struct {
		fwd     model.Packet // the forward packet as it enters the node
		in, out string
		reply   func(left model.Packet) model.Packet // the reply as it arrives, from the packet that left
		want    model.Packet                         // the reply as it leaves the node
	}{
		"masquerade: the reply is addressed back to the pod": {
			fwd: tcp("10.244.0.10:40000", "1.1.1.1:443"), in: "cni0", out: "eth0",
			reply: func(left model.Packet) model.Packet { return left.Reply() },
			want:  tcp("1.1.1.1:443", "10.244.0.10:40000"),
		},
		"service DNAT: the reply leaves from the cluster IP": {
			fwd: tcp("10.244.0.10:40000", "10.96.0.10:80"), in: "cni0", out: "eth0",
			reply: func(left model.Packet) model.Packet { return left.Reply() },
			want:  tcp("10.96.0.10:80", "10.244.0.10:40000"),
		},
		"node port: DNAT and masquerade at one node, both reversed": {
			fwd: tcp("198.51.100.7:40000", "172.18.1.2:30080"), in: "eth0", out: "eth0",
			reply: func(left model.Packet) model.Packet { return left.Reply() },
			want:  tcp("172.18.1.2:30080", "198.51.100.7:40000"),
		},
		"another connection's reply is left alone": {
			fwd: tcp("10.244.0.10:40000", "10.96.0.10:80"), in: "cni0", out: "eth0",
			reply: func(model.Packet) model.Packet { return tcp("10.244.1.11:8080", "10.244.0.10:40000") },
			want:  tcp("10.244.1.11:8080", "10.244.0.10:40000"),
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			stack := natNode()
			rules, err := netfilter.FromNetstack(stack, netfilter.Parsers{})
			if err != nil {
				t.Fatal(err)
			}
			env := &Env{}
			h := &Hop{Packet: c.fwd}
			var trace []string
			through := func(h *Hop, hook nf.Hook, in, out string) *Hop {
				t.Helper()
				outs := rules.Traverse(hook, h.NFPacket(in, out))
				if len(outs) != 1 || outs[0].Verdict != nf.Accept {
					t.Fatalf("%s: %+v", hook, outs)
				}
				trace = append(trace, outs[0].TraceLines()...)
				return h.After(&outs[0])
			}
			for _, hk := range []nf.Hook{nf.PreRouting, nf.Forward, nf.PostRouting} {
				h = through(h, hk, c.in, c.out)
			}
			env.remember("node/a", h.Packet, h.Conn)
			env.remember("node/b", c.fwd, h.Conn) // another NetNode's table is not consulted

			r := &Hop{Packet: c.reply(h.Packet), Conn: env.replyConn("node/a", c.reply(h.Packet))}
			for _, hk := range []nf.Hook{nf.PreRouting, nf.Forward, nf.PostRouting} {
				r = through(r, hk, c.out, c.in)
			}
			if diff := cmp.Diff(c.want.String(), r.Packet.String()); diff != "" {
				t.Errorf("reply (-want +got):\n%s\ntrace:\n%v", diff, trace)
			}
		})
	}
}

// TestReplyConnWithoutForward checks that a reply at a NetNode the forward packet did not
// leave from is ESTABLISHED, in the reply direction, and without NAT.
func TestReplyConnWithoutForward(t *testing.T) {
	env := &Env{}
	c := env.replyConn("node/x", tcp("10.0.0.1:80", "10.0.0.2:40000"))
	if !c.Reply || c.State != nf.CtEstablished || c.OrigDst.IsValid() {
		t.Errorf("got %+v", c)
	}
}
