package e2e

import (
	"context"
	"net/netip"
	"strings"

	. "github.com/onsi/ginkgo/v2"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/test/lab"
)

// kindnetCases are the faults only kindnet's data plane has: what kindnetd lays (its
// masquerade chain) and what the ptp plugin lays (the host route to each pod, the pod's
// gateway on the host end of its veth), broken on the lab's nodes.
var kindnetCases = []faultCase{
	{
		name: "kindnetd's KIND-MASQ-AGENT chain flushed on the source node",
		only: []lab.Mode{kindnetMode},
		fault: func(ctx context.Context, e *env) {
			n1 := e.node("node-1").Netns
			rules := strings.Split(e.run(ctx, n1, "iptables-save", "-t", "nat"), "\n")
			e.inject(ctx, n1, []string{"iptables", "-w", "-t", "nat", "-F", "KIND-MASQ-AGENT"}, nil)
			DeferCleanup(func(ctx SpecContext) {
				for _, r := range rules {
					if strings.HasPrefix(r, "-A KIND-MASQ-AGENT ") {
						_, _ = e.lab.Exec(ctx, n1, append([]string{"iptables", "-w", "-t", "nat"}, shellFields(r)...)...)
					}
				}
			})
		},
		path: func(p paths) path { return p.podToInternet("web", 443) },
		want: func(*env) want { return unreachable(model.ReasonMasqueradeMissing, "node-1") },
	},
	{
		name: "ptp's host route to the destination pod removed",
		only: []lab.Mode{kindnetMode},
		fault: func(ctx context.Context, e *env) {
			n2 := e.node("node-2").Netns
			e.keepRoutes(ctx, n2)
			e.run(ctx, n2, "ip", "route", "del", netip.PrefixFrom(e.podIP(ctx, "db"), 32).String())
		},
		path: func(p paths) path { return p.podToPod("web", "db", 5432) },
		want: func(*env) want { return unreachable(model.ReasonRouteMissing, "node-2") },
	},
	{
		name: "the pod gateway gone from every host veth of the source node",
		only: []lab.Mode{kindnetMode},
		fault: func(ctx context.Context, e *env) {
			n1 := e.node("node-1")
			gw := netip.PrefixFrom(n1.PodCIDR.Masked().Addr().Next(), 32).String()
			e.keepRoutes(ctx, n1.Netns)
			for _, pod := range []string{"web", "api"} {
				veth := e.hostVeth(ctx, pod, "node-1")
				e.inject(ctx, n1.Netns, []string{"ip", "addr", "del", gw, "dev", veth}, []string{"ip", "addr", "add", gw, "dev", veth})
			}
			// What the pod had learnt of its gateway would carry it until the entry expires.
			e.run(ctx, e.podNetns("web"), "ip", "neigh", "flush", "dev", "eth0")
		},
		path: func(p paths) path { return p.podToPod("web", "db", 5432) },
		want: func(*env) want { return unreachable(model.ReasonNeighbourMissing, "node-1").inPod("web") },
	},
	{
		name: "a NetworkPolicy the diagnosis says kindnetd does not enforce (the lab runs no policy controller)",
		only: []lab.Mode{kindnetMode},
		fault: func(ctx context.Context, e *env) {
			e.denyAllIngress(ctx, "db")
		},
		path: func(p paths) path {
			x := p.podToPod("web", "db", 5432)
			x.nd.Spec.NetworkPluginConfig = map[string]string{"network-policy": "not-enforced"}
			return x
		},
		want: func(*env) want { return reachable() },
	},
}

// shellFields splits an iptables-save rule into arguments, keeping a quoted comment whole.
func shellFields(rule string) []string {
	var out []string
	for i, part := range strings.Split(rule, `"`) {
		if i%2 == 1 {
			out = append(out, part)
			continue
		}
		out = append(out, strings.Fields(part)...)
	}
	return out
}
