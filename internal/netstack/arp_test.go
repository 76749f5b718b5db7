package netstack

import (
	"net/netip"
	"testing"
)

// TestAnswersARP: who answers an ARP request arriving on veth1 for an address, as the
// kernel's arp_process decides with arp_ignore and proxy_arp.
func TestAnswersARP(t *testing.T) {
	base := func() *nsBuilder {
		return MakeNetstack().Iface("eth0", 2, "172.18.0.2/16").Iface("veth1", 3, "10.244.0.1/32")
	}
	cases := map[string]struct {
		ns   *Netstack
		addr string
		want bool
	}{
		"an address of the interface itself":                 {base().Sysctl("ipv4/conf/veth1/arp_ignore", "1").Obj(), "10.244.0.1", true},
		"another interface's address, arp_ignore 0":          {base().Obj(), "172.18.0.2", true},
		"another interface's address, arp_ignore 1 on veth1": {base().Sysctl("ipv4/conf/veth1/arp_ignore", "1").Obj(), "172.18.0.2", false},
		"another interface's address, arp_ignore 1 on all":   {base().Sysctl("ipv4/conf/all/arp_ignore", "1").Obj(), "172.18.0.2", false},
		"an address nobody holds":                            {base().Obj(), "10.244.0.99", false},
		"an address nobody holds, proxy ARP on veth1":        {base().Sysctl("ipv4/conf/veth1/proxy_arp", "1").Obj(), "10.244.0.99", true},
		"an address nobody holds, proxy ARP on all":          {base().Sysctl("ipv4/conf/all/proxy_arp", "1").Obj(), "10.244.0.99", true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := tc.ns.AnswersARP("veth1", netip.MustParseAddr(tc.addr)); got != tc.want {
				t.Errorf("AnswersARP(veth1, %s) = %v, want %v", tc.addr, got, tc.want)
			}
		})
	}
}
