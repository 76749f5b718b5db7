package collector

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/netdiag/netdiag/internal/netstack"
)

func TestProbe(t *testing.T) {
	n := makeNode(t)
	// The pod reaches the node's addresses through its default route; the node's nftables
	// table drops TCP to port 22 silently.
	tests := map[string]struct {
		fromPod bool
		spec    ProbeSpec
		want    netstack.ProbeResult
		// wantIn is a part of the message (the exact wording of errors is the kernel's).
		wantIn string
		// inconclusive: the outcome tells neither way, and the engine must not weigh it.
		inconclusive bool
	}{
		"TCP from the node to a port the pod listens on": {
			spec: ProbeSpec{To: mustAddr(podIP), Protocol: "TCP", Port: 80},
			want: netstack.ProbeResult{Reachable: true, Message: "TCP connection to 10.231.9.5:80 established"},
		},
		"TCP from the node to a closed port of the pod": {
			spec:   ProbeSpec{To: mustAddr(podIP), Protocol: "TCP", Port: 81},
			wantIn: "connection refused",
		},
		"TCP from the pod to a port nftables drops": {
			fromPod: true,
			spec:    ProbeSpec{To: mustAddr(bridgeIP), Protocol: "TCP", Port: 22, Timeout: 300 * time.Millisecond},
			wantIn:  "no answer within 300ms",
		},
		"TCP from the node into an unreachable route": {
			spec:   ProbeSpec{To: mustAddr("10.231.67.1"), Protocol: "TCP", Port: 80},
			wantIn: "host unreachable",
		},
		"UDP from the node to a closed port of the pod": {
			spec:   ProbeSpec{To: mustAddr(podIP), Protocol: "UDP", Port: 53},
			wantIn: "ICMP port unreachable",
		},
		"UDP from the pod to a silent server on the node": {
			fromPod: true,
			spec:    ProbeSpec{To: mustAddr(bridgeIP), Protocol: "UDP", Port: 5353, Timeout: 300 * time.Millisecond},
			wantIn:  "no reply and no ICMP error within 300ms", inconclusive: true,
		},
		"ICMP echo from the pod to the node": {
			fromPod: true,
			spec:    ProbeSpec{To: mustAddr(underlayIP), Protocol: "ICMP"},
			want:    netstack.ProbeResult{Reachable: true, Message: "ICMP echo reply from 192.168.231.2"},
		},
		"a protocol the probe does not know is not sent": {
			spec:   ProbeSpec{To: mustAddr(podIP), Protocol: "SCTP", Port: 80},
			wantIn: "probe not sent: unknown protocol", inconclusive: true,
		},
		"ICMP echo from the node to an address nobody has": {
			spec:   ProbeSpec{To: netip.MustParseAddr("10.231.9.77"), Protocol: "ICMP", Timeout: 300 * time.Millisecond},
			wantIn: "no answer within 300ms",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := n.path
			if tc.fromPod {
				path = n.podPath
			}
			got := Probe(t.Context(), path, tc.spec)
			if tc.wantIn != "" {
				if got.Reachable || !strings.Contains(got.Message, tc.wantIn) || got.Inconclusive != tc.inconclusive {
					t.Errorf("probe: got %+v, want unreachable with %q, inconclusive %t", got, tc.wantIn, tc.inconclusive)
				}
				return
			}
			if got != tc.want {
				t.Errorf("probe: got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCollectProbesFromThePod(t *testing.T) {
	n := makeNode(t)
	web := netstack.PodRef{Namespace: "default", Name: "web", IP: mustAddr(podIP)}
	snap, err := Collect(t.Context(), Options{
		Node: "n1", HostNetNS: n.path, Pods: []netstack.PodRef{web}, NetNSDirs: []string{"/var/run/netns"},
		Probe: &ProbeSpec{FromPod: "default/web", To: mustAddr(bridgeIP), Protocol: "TCP", Port: 8080},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &netstack.ProbeResult{Reachable: true, Message: "TCP connection to 10.231.1.1:8080 established"}
	if snap.Probe == nil || *snap.Probe != *want {
		t.Errorf("probe: got %+v, want %+v", snap.Probe, want)
	}
}

func TestCheckProbeTarget(t *testing.T) {
	tests := map[string]struct {
		to     netip.Addr
		wantIn string // empty: the probe may go
	}{
		"IPv4 loopback":                   {to: netip.MustParseAddr("127.0.0.1"), wantIn: "127.0.0.1 is a loopback address"},
		"IPv4 loopback, not the first":    {to: netip.MustParseAddr("127.10.0.1"), wantIn: "is a loopback address"},
		"IPv4 loopback, mapped into IPv6": {to: netip.MustParseAddr("::ffff:127.0.0.1"), wantIn: "is a loopback address"},
		"IPv6 loopback":                   {to: netip.IPv6Loopback(), wantIn: "::1 is a loopback address"},
		"IPv4 unspecified":                {to: netip.IPv4Unspecified(), wantIn: "is the unspecified address"},
		"IPv6 unspecified":                {to: netip.IPv6Unspecified(), wantIn: "is the unspecified address"},
		"the cloud metadata service":      {to: netip.MustParseAddr("169.254.169.254"), wantIn: "is a link-local address"},
		"IPv6 link-local with a zone":     {to: netip.MustParseAddr("fe80::1%eth0"), wantIn: "is a link-local address"},
		"IPv4 multicast":                  {to: netip.MustParseAddr("239.0.0.1"), wantIn: "is a multicast address"},
		"IPv6 all nodes":                  {to: netip.MustParseAddr("ff02::1"), wantIn: "is a multicast address"},
		"IPv4 broadcast":                  {to: netip.MustParseAddr("255.255.255.255"), wantIn: "is the broadcast address"},
		"no address":                      {wantIn: "no destination address"},
		"a pod address":                   {to: netip.MustParseAddr("10.244.1.5")},
		"a node address":                  {to: netip.MustParseAddr("192.168.1.10")},
		"an IPv6 address":                 {to: netip.MustParseAddr("2001:db8::1")},
		"a pod address, mapped into IPv6": {to: netip.MustParseAddr("::ffff:10.244.1.5")},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := CheckProbeTarget(tc.to)
			switch {
			case tc.wantIn == "" && err != nil:
				t.Errorf("CheckProbeTarget(%s) = %v, want nil", tc.to, err)
			case tc.wantIn != "" && (err == nil || !strings.Contains(err.Error(), tc.wantIn)):
				t.Errorf("CheckProbeTarget(%s) = %v, want an error with %q", tc.to, err, tc.wantIn)
			}
		})
	}
}

// TestProbeSendsNothingToLoopback listens on loopback, where a probe would get an answer,
// and shows that the probe refuses before anything is sent.
func TestProbeSendsNothingToLoopback(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := tcp.Accept(); err == nil {
			accepted <- struct{}{}
			_ = c.Close()
		}
	}()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()

	to := netip.MustParseAddr("127.0.0.1")
	for _, spec := range []ProbeSpec{
		{To: to, Protocol: "TCP", Port: uint16(tcp.Addr().(*net.TCPAddr).Port)},
		{To: to, Protocol: "UDP", Port: uint16(udp.LocalAddr().(*net.UDPAddr).Port)},
		{To: netip.MustParseAddr("::ffff:127.0.0.1"), Protocol: "ICMP"},
	} {
		got := Probe(t.Context(), "", spec)
		want := "probe not sent: " + spec.To.String() + " is a loopback address"
		if got.Reachable || !got.Inconclusive || !strings.HasPrefix(got.Message, want) {
			t.Errorf("%s probe: got %+v, want inconclusive with %q", spec.Protocol, got, want)
		}
	}

	select {
	case <-accepted:
		t.Error("the TCP probe connected to loopback")
	case <-time.After(100 * time.Millisecond):
	}
	_ = udp.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _, err := udp.ReadFrom(make([]byte, 64)); err == nil {
		t.Errorf("the UDP probe sent %d bytes to loopback", n)
	}
}
