package collector

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/netdiag/netdiag/internal/dnsname"
)

// nameserver answers A queries over UDP and TCP on one 127.0.0.1 port from records, and
// NXDOMAIN for any other name; it counts the queries it got.
func nameserver(t *testing.T, records map[string]string) (uint16, *[]string) {
	t.Helper()
	var asked []string
	answer := func(q []byte) []byte {
		var p dnsmessage.Parser
		h, err := p.Start(q)
		if err != nil {
			return nil
		}
		qs, err := p.AllQuestions()
		if err != nil || len(qs) != 1 {
			return nil
		}
		name := strings.TrimSuffix(qs[0].Name.String(), ".")
		asked = append(asked, name)
		reply := dnsmessage.Message{Header: dnsmessage.Header{ID: h.ID, Response: true, RCode: dnsmessage.RCodeNameError}, Questions: qs}
		if ip, ok := records[name]; ok {
			reply.RCode = dnsmessage.RCodeSuccess
			reply.Answers = []dnsmessage.Resource{{Header: dnsmessage.ResourceHeader{Name: qs[0].Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 5},
				Body: &dnsmessage.AResource{A: netip.MustParseAddr(ip).As4()}}}
		}
		out, _ := reply.Pack()
		return out
	}
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(udp.LocalAddr().(*net.UDPAddr).Port)
	tcp, err := net.Listen("tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close(); tcp.Close() })
	go func() {
		buf := make([]byte, 512)
		for range 100 {
			n, from, err := udp.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = udp.WriteTo(answer(buf[:n]), from)
		}
	}()
	go func() {
		for range 100 {
			c, err := tcp.Accept()
			if err != nil {
				return
			}
			var size [2]byte
			if _, err := io.ReadFull(c, size[:]); err == nil {
				q := make([]byte, binary.BigEndian.Uint16(size[:]))
				if _, err := io.ReadFull(c, q); err == nil {
					a := answer(q)
					_, _ = c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(a))), a...))
				}
			}
			c.Close()
		}
	}()
	return port, &asked
}

func TestLookupFollowsTheSearchPath(t *testing.T) {
	port, asked := nameserver(t, map[string]string{"db.data.svc.cluster.local": "10.96.0.20"})
	rc := dnsname.ResolvConf{Nameservers: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		Search: []string{"shop.svc.cluster.local", "svc.cluster.local", "cluster.local"}, Ndots: 5}
	for _, tcp := range []bool{false, true} {
		*asked = nil
		got := lookup(context.Background(), "", rc, "db.data", tcp, time.Second, port)
		if got.Err != "" || len(got.Addrs) != 1 || got.Addrs[0] != netip.MustParseAddr("10.96.0.20") || got.Name != "db.data.svc.cluster.local" {
			t.Errorf("tcp=%v: got %+v, want db.data.svc.cluster.local -> 10.96.0.20", tcp, got)
		}
		if want := "db.data.shop.svc.cluster.local db.data.svc.cluster.local"; strings.Join(*asked, " ") != want {
			t.Errorf("tcp=%v: the server was asked %v, want %s", tcp, *asked, want)
		}
	}
	got := lookup(context.Background(), "", rc, "nosuch.data", false, time.Second, port)
	if len(got.Addrs) != 0 || !strings.Contains(got.Err, "NameError") || len(got.Asked) != 4 {
		t.Errorf("nosuch.data: got %+v, want NXDOMAIN after the 4 names of the search path", got)
	}
}

func TestLookupGivesUpOnASilentNameserver(t *testing.T) {
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	port := uint16(silent.LocalAddr().(*net.UDPAddr).Port)
	rc := dnsname.ResolvConf{Nameservers: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, Ndots: 1}
	start := time.Now()
	got := lookup(context.Background(), "", rc, "db.data.", false, 200*time.Millisecond, port)
	if len(got.Addrs) != 0 || !strings.Contains(got.Err, "timeout") {
		t.Errorf("got %+v, want a timeout", got)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s: the timeout does not bound the lookup", took)
	}
}
