package collector

import (
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
