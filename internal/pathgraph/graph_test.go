package pathgraph

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDirections tells the way out from the way back through NAT on either side, and where
// the source answers itself.
func TestDirections(t *testing.T) {
	link := func(from, to, pkt string) rawLink {
		p, err := parsePacket(pkt)
		if err != nil {
			t.Fatal(err)
		}
		return rawLink{from: from, to: to, pkt: p, text: pkt, ok: true}
	}
	cases := map[string]struct {
		links []rawLink
		want  []Direction
	}{
		"masquerade to the internet": {
			links: []rawLink{
				link("pod/a/web", "node/n0", "TCP 10.244.0.5:40000 -> 1.1.1.1:443"),
				link("node/n0", "external/1.1.1.1", "TCP 172.18.1.2:40000 -> 1.1.1.1:443"),
				link("external/1.1.1.1", "node/n0", "TCP 1.1.1.1:443 -> 172.18.1.2:40000"),
				link("node/n0", "pod/a/web", "TCP 1.1.1.1:443 -> 10.244.0.5:40000"),
			},
			want: []Direction{Forward, Forward, Reply, Reply},
		},
		"a pod reaching itself through its service, translated both ways": {
			links: []rawLink{
				link("pod/a/web", "node/n0", "TCP 10.244.0.5:40000 -> 10.96.0.10:80"),
				link("node/n0", "service/a/web", "TCP 10.244.0.1:40000 -> 10.244.0.5:8080"),
				link("service/a/web", "pod/a/web", "TCP 10.244.0.1:40000 -> 10.244.0.5:8080"),
				link("pod/a/web", "node/n0", "TCP 10.244.0.5:8080 -> 10.244.0.1:40000"),
				link("node/n0", "pod/a/web", "TCP 10.96.0.10:80 -> 10.244.0.5:40000"),
			},
			want: []Direction{Forward, Forward, Forward, Reply, Reply},
		},
		"icmp": {
			links: []rawLink{
				link("pod/a/web", "node/n0", "ICMP 10.244.0.5 -> 10.244.1.7"),
				link("node/n0", "pod/a/db", "ICMP 10.244.0.5 -> 10.244.1.7"),
				link("pod/a/db", "node/n0", "ICMP 10.244.1.7 -> 10.244.0.5"),
				link("node/n0", "pod/a/web", "ICMP 10.244.1.7 -> 10.244.0.5"),
			},
			want: []Direction{Forward, Forward, Reply, Reply},
		},
		"a packet text not understood follows the link before it": {
			links: []rawLink{
				link("pod/a/web", "node/n0", "TCP 10.244.0.5:40000 -> 10.244.1.7:5432"),
				{from: "node/n0", to: "node/n1", text: "something else"},
			},
			want: []Direction{Forward, Forward},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if d := cmp.Diff(c.want, directions("pod/a/web", c.links)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}
