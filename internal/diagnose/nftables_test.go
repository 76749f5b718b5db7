package diagnose

import (
	"fmt"
	"strings"
	"testing"

	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/fixture/flowtest"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
)

// twoNodesNFT is the flow tests' cluster on flannel host-gw, with kube-proxy in nftables
// mode on every node: its ruleset (in the recorded shape) in each node's nftables, flannel's
// rules in iptables.
func twoNodesNFT() *fixture.Cluster {
	c := flanneltest.New(flanneltest.HostGW, 2)
	c.KubeProxyMode = fixture.KubeProxyNFTables
	return flowtest.TwoNodes(c)
}

func TestFlowsKubeProxyNFTables(t *testing.T) {
	tcp := model.TCP
	cases := map[string]flow{
		"pod to service: the nftables translation sends to both endpoints": {
			src: "pod:default/client", dst: "service:default/web", proto: tcp, port: 80,
			want: Reachable, via: []string{"service/default/web", "pod/default/web-0", "pod/default/web-1"},
		},
		"node to service: the node's own packet is translated in OUTPUT": {
			src: "node:node-1", dst: "service:default/web", proto: tcp, port: 80,
			want: Reachable, via: []string{"pod/default/web-0", "pod/default/web-1"},
		},
		"service without endpoints: kube-proxy's no-endpoint-services map rejects": {
			src: "pod:default/client", dst: "service:default/empty", proto: tcp, port: 80,
			want: Unreachable, reasons: []model.Reason{model.ReasonServiceNoEndpoints},
		},
		"a port the service does not have: kube-proxy rejects it": {
			src: "pod:default/client", dst: "service:default/web", proto: tcp, port: 81,
			want: Unreachable, reasons: []model.Reason{model.ReasonServicePortMissing},
		},
		"pod to pod across nodes: the rulesets let it through": {
			src: "pod:default/client", dst: "pod:default/db", proto: tcp, port: 5432,
			want: Reachable, via: []string{"node/node-0", "node/node-1", "pod/default/db"},
		},
		"an unreadable nftables ruleset on the way is Unknown, never a silent pass": {
			src: "pod:default/client", dst: "pod:default/db", proto: tcp, port: 5432,
			fault: func(c *fixture.Cluster) { c.Host("node-1").NFTables = `{"nftables": [{"table": ` },
			want:  Unknown,
		},
		"kube-proxy has not synced: the service-ips map lacks the service on node-0": {
			src: "pod:default/client", dst: "service:default/web", proto: tcp, port: 80,
			fault: func(c *fixture.Cluster) {
				h := c.Host("node-0")
				h.NFTables = strings.Replace(h.NFTables, `{"concat":["10.96.0.10","tcp",80]}`, `{"concat":["10.96.0.10","tcp",8888]}`, 1)
			},
			want: Unreachable, reasons: []model.Reason{model.ReasonServiceRulesMissing},
		},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			res := runFlowOn(t, twoNodesNFT(), f)
			if f.want == Reachable && f.dst == "service:default/web" && !traced(res, "kube-proxy nftables") {
				t.Errorf("no step of kube-proxy nftables explains the translation")
			}
		})
	}
}

// TestNFTablesDropOnDestination puts a DROP into an nftables filter chain of the destination
// node: the diagnosis ends Unreachable with NFTablesDrop naming the table, chain and rule.
func TestNFTablesDropOnDestination(t *testing.T) {
	cases := map[string]struct {
		dst  string
		port uint16
		hook string
	}{
		"forward chain, a pod behind the node":         {dst: "pod:default/db", port: 5432, hook: "forward"},
		"forward chain, after the service translation": {dst: "service:default/web", port: 80, hook: "forward"},
		"input chain, the node itself":                 {dst: "node:node-1", port: 10250, hook: "input"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			port, want := c.port, Unreachable
			if c.dst == "service:default/web" {
				port = 8080 // the endpoint's port, after the translation on node-0
				want = PartiallyReachable
			}
			res := runFlowOn(t, twoNodesNFT(), flow{
				src: "pod:default/client", dst: c.dst, proto: model.TCP, port: c.port,
				fault: func(cl *fixture.Cluster) { fixture.AddNFTablesDrop(&cl.Host("node-1").NFTables, c.hook, port) },
				// For the service, the branch to web-0 on node-0 still arrives: the drop of the
				// other branch is the one finding, and half the connections get through.
				want: want, reasons: []model.Reason{model.ReasonNFTablesDrop},
			})
			var drop *model.Suspicion
			for i, s := range res.Suspicions {
				if s.Reason == model.ReasonNFTablesDrop {
					drop = &res.Suspicions[i]
				}
			}
			if drop == nil {
				t.Fatal("no NFTablesDrop")
			}
			t.Logf("%s\n  rule: %s", drop.Message, drop.Rule)
			if drop.Node != "node-1" {
				t.Errorf("NFTablesDrop on %q, want node-1", drop.Node)
			}
			for _, want := range []string{"host-firewall", "drop-" + c.hook, "handle 902", `"drop"`} {
				if !strings.Contains(drop.Rule, want) {
					t.Errorf("the rule %q does not name %s", drop.Rule, want)
				}
			}
			if !strings.Contains(drop.Message, "chain host-firewall/drop-"+c.hook) || !strings.Contains(drop.Message, "nftables") {
				t.Errorf("the message does not name the nftables chain: %s", drop.Message)
			}
		})
	}
}

func traced(res *Result, component string) bool {
	for _, s := range res.Trace {
		if s.Component == component {
			return true
		}
	}
	return false
}

// BenchmarkDiagnoseNFTables is one diagnosis, pod to a service whose endpoints are on other
// nodes, on a flannel host-gw cluster of 100 nodes and 1,000 services of 3 endpoints whose
// kube-proxy runs in nftables mode (each node's ruleset has 1,000 service chains and a
// service-ips map of 1,000 elements), the parsed rulesets cached as a running controller
// keeps them.
func BenchmarkDiagnoseNFTables(b *testing.B) {
	c := flanneltest.New(flanneltest.HostGW, 100)
	c.KubeProxyMode = fixture.KubeProxyNFTables
	c.Pod("ns-0", "client-0", 0, map[string]string{"app": "client"})
	next := 1
	for s := range 1000 {
		app := fmt.Sprintf("svc-%d", s)
		for e := range 3 {
			c.Pod("ns-0", fmt.Sprintf("%s-%d", app, e), next%100, map[string]string{"app": app}, 8080)
			next++
		}
		c.Service("ns-0", app, map[string]string{"app": app}, 80, 8080)
	}
	c.Build()
	in := Input{Cluster: c.Snapshot, Nodes: c.Nodes, Question: largeQuestion(b, c)}
	res, err := Diagnose(in)
	if err != nil {
		b.Fatal(err)
	}
	if res.Verdict != Reachable {
		b.Fatalf("verdict %s: %s", res.Verdict, res.Summary)
	}
	for b.Loop() {
		if _, err := Diagnose(in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(c.Host("node-0").NFTables))/1e6, "ruleset-MB")
}

// TestRulesNotUnderstoodAreNamedOnce: a rule the engine cannot read is named when the
// diagnosis first evaluates its namespace, even where no packet of the question reaches it,
// and only once however often the namespace is crossed.
func TestRulesNotUnderstoodAreNamedOnce(t *testing.T) {
	c := twoNodesNFT()
	h := c.Host("node-1")
	extra := `{"table": {"family": "inet", "name": "extra"}},
{"chain": {"family": "inet", "table": "extra", "name": "in", "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
{"rule": {"family": "inet", "table": "extra", "chain": "in", "handle": 7, "expr": [{"match": {"op": "==", "left": {"osf": {"key": "name"}}, "right": "Linux"}}, {"drop": null}]}}`
	i := strings.LastIndex(h.NFTables, "]")
	h.NFTables = h.NFTables[:i] + ",\n" + extra + h.NFTables[i:]
	res := runFlowOn(t, c, flow{src: "pod:default/client", dst: "pod:default/db", proto: model.TCP, port: 5432, want: Reachable})
	var named []model.Suspicion
	for _, s := range res.Suspicions {
		if s.Reason == model.ReasonRuleNotUnderstood {
			named = append(named, s)
		}
	}
	if len(named) != 1 || named[0].Node != "node-1" || !strings.Contains(named[0].Rule, "extra") || !strings.Contains(named[0].Message, "An nftables rule of node-1") {
		t.Fatalf("RuleNotUnderstood suspicions %+v, want one naming the rule of table extra on node-1", named)
	}
	if named[0].Level != model.Info {
		t.Errorf("level %s: a rule no packet of the question reaches decides nothing", named[0].Level)
	}
}
