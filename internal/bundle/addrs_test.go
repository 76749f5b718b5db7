package bundle

import (
	"net/netip"
	"testing"
)

// TestAddrMapKeepsContainment maps the networks of a cluster (pods, services, nodes, a
// wide route) and checks what routes depend on: every prefix holds exactly the addresses it
// held, keeps its length, and lands in a range never routed on the Internet; no two
// addresses become one; the special ones stay.
func TestAddrMapKeepsContainment(t *testing.T) {
	texts := []string{
		"10.0.0.0/8", "10.244.0.0/16", "10.244.1.0/24", "10.244.1.0/26", "10.96.0.10", "10.96.0.1",
		"10.244.1.3", "10.244.2.7", "10.244.1.63", "172.18.1.0/24", "172.18.1.2", "172.18.1.3:10250",
		"192.168.7.9", "8.8.8.8", "fd00:10:244::/64", "fd00:10:244::5", "2001:db8::1",
		"0.0.0.0/0", "127.0.0.1", "169.254.1.1", "224.0.0.0/4", "fe80::1", "::/0",
	}
	var m addrMap
	for _, s := range texts {
		m.collect(s)
	}
	if err := m.allocate(); err != nil {
		t.Fatal(err)
	}
	var prefixes []netip.Prefix
	var addrs []netip.Addr
	for _, s := range texts {
		if p, err := netip.ParsePrefix(s); err == nil {
			prefixes = append(prefixes, p)
			addrs = append(addrs, p.Addr())
		} else if a, err := netip.ParseAddr(s); err == nil {
			addrs = append(addrs, a)
		} else {
			addrs = append(addrs, netip.MustParseAddrPort(s).Addr())
		}
	}
	mapped := map[netip.Addr]netip.Addr{}
	for _, a := range addrs {
		to := m.mapAddr(a)
		if kept(a) {
			if to != a {
				t.Errorf("special address %s became %s", a, to)
			}
			continue
		}
		if other, ok := mapped[to]; ok && other != a {
			t.Errorf("%s and %s both became %s", a, other, to)
		}
		mapped[to] = a
		inPool := false
		for _, p := range pools {
			inPool = inPool || p.Contains(to)
		}
		if !inPool {
			t.Errorf("%s became %s, outside the documentation and reserved ranges", a, to)
		}
	}
	for _, p := range prefixes {
		got, ok := m.redact(p.String())
		if !ok {
			t.Fatalf("prefix %s not redacted", p)
		}
		q := netip.MustParsePrefix(got)
		if q.Bits() != p.Bits() {
			t.Errorf("%s became %s: another length", p, q)
		}
		for _, a := range addrs {
			if p.Contains(a) != q.Contains(m.mapAddr(a)) {
				t.Errorf("%s holds %s: %v; redacted, %s holds %s: %v", p, a, p.Contains(a), q, m.mapAddr(a), q.Contains(m.mapAddr(a)))
			}
		}
	}
}
