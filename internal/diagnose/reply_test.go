package diagnose

import (
	"testing"

	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
)

// TestReplyPath follows the reply from the destination back to the source: the first
// packet gets through, and the connection still fails when its reply cannot come back.
func TestReplyPath(t *testing.T) {
	toDB := flow{src: "pod:default/client", dst: "pod:default/db", proto: model.TCP, port: 5432}
	with := func(f flow, fault func(*fixture.Cluster), want Verdict, reasons ...model.Reason) flow {
		f.fault, f.want, f.reasons = fault, want, reasons
		return f
	}
	cases := map[string]struct {
		backends []string
		flow     flow
	}{
		"a FORWARD rule on the destination node drops only the reply": {
			backends: []string{flanneltest.VXLAN, flanneltest.HostGW},
			flow: with(toDB, func(c *fixture.Cluster) {
				fixture.InsertRule(c.Host("node-1"), "filter", "FORWARD -s 10.244.1.11/32 -p tcp -m tcp --sport 5432 -m conntrack --ctstate ESTABLISHED -j DROP")
			}, Unreachable, model.ReasonIPTablesDrop),
		},
		"a FORWARD rule on the source node drops only the reply": {
			backends: []string{flanneltest.VXLAN, flanneltest.HostGW},
			flow: with(toDB, func(c *fixture.Cluster) {
				fixture.InsertRule(c.Host("node-0"), "filter", "FORWARD -d 10.244.0.10/32 -m conntrack --ctstate RELATED,ESTABLISHED -j REJECT")
			}, Unreachable, model.ReasonIPTablesReject),
		},
		"the reply goes out another interface and strict rp_filter drops it on the way back": {
			// node-1 answers by the underlay instead of the tunnel; node-0 routes the pod
			// subnet of node-1 by flannel.1, so the reply arriving on eth0 fails rp_filter.
			backends: []string{flanneltest.VXLAN},
			flow: with(toDB, func(c *fixture.Cluster) {
				reroute(c.Host("node-1"), "10.244.0.0/24", fixture.NodeIP(0), "eth0")
				src := c.Host("node-0")
				src.Sysctls["ipv4/conf/all/rp_filter"] = "1"
				src.Sysctls["ipv4/conf/eth0/rp_filter"] = "1"
			}, Unreachable, model.ReasonRPFilterDrop),
		},
		"the same asymmetric reply passes loose rp_filter": {
			backends: []string{flanneltest.VXLAN},
			flow: with(toDB, func(c *fixture.Cluster) {
				reroute(c.Host("node-1"), "10.244.0.0/24", fixture.NodeIP(0), "eth0")
			}, Reachable),
		},
		"a service's reply is un-DNATed on the client's node and the FORWARD rule for the endpoint's replies drops it": {
			backends: []string{flanneltest.VXLAN},
			flow: flow{src: "pod:default/client", dst: "service:default/web", proto: model.TCP, port: 80,
				fault: func(c *fixture.Cluster) {
					fixture.InsertRule(c.Host("node-0"), "filter", "FORWARD -s 10.244.1.10/32 -p tcp -m tcp --sport 8080 -j DROP")
				},
				// Only web-1's replies are dropped; web-0's connections work.
				want: PartiallyReachable, reasons: []model.Reason{model.ReasonIPTablesDrop}},
		},
		"pod to the internet: the reply comes back to the masquerading node": {
			backends: []string{flanneltest.VXLAN, flanneltest.HostGW},
			flow: flow{src: "pod:default/client", dst: "ip:1.1.1.1", proto: model.TCP, port: 443,
				fault: func(c *fixture.Cluster) {
					// Only the un-SNATed reply (to the pod) matches.
					fixture.InsertRule(c.Host("node-0"), "filter", "FORWARD -s 1.1.1.1/32 -d 10.244.0.10/32 -j DROP")
				},
				want: Unreachable, reasons: []model.Reason{model.ReasonIPTablesDrop}},
		},
	}
	for name, c := range cases {
		for _, backend := range c.backends {
			t.Run(backend+"/"+name, func(t *testing.T) { runFlow(t, backend, c.flow) })
		}
	}
}
