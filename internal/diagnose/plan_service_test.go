package diagnose

import (
	"fmt"
	"strings"
	"testing"

	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
	"github.com/netdiag/netdiag/internal/plugins"
)

// spreadService is a cluster of nodes nodes with client on node-0 and the service
// default/big of endpoints pods, one a node round-robin from node-1 on.
func spreadService(nodes, endpoints int) *fixture.Cluster {
	c := flanneltest.New(flanneltest.VXLAN, nodes)
	c.Pod("default", "client", 0, map[string]string{"app": "client"})
	for i := range endpoints {
		c.Pod("default", fmt.Sprintf("big-%d", i), 1+i%(nodes-1), map[string]string{"app": "big"}, 8080)
	}
	c.Service("default", "big", map[string]string{"app": "big"}, 80, 8080)
	return c.Build()
}

// collected keeps only the node snapshots the plan asks for, as the controller collects.
func collected(c *fixture.Cluster, plan CollectPlan) map[string]*netstack.NodeSnapshot {
	out := map[string]*netstack.NodeSnapshot{}
	for _, n := range plan.Nodes() {
		out[n] = c.Nodes[n]
	}
	return out
}

func bigQuestion(t *testing.T, c *fixture.Cluster) model.Question {
	return model.Question{Source: endpoint(t, c.Snapshot, "pod:default/client"), Destination: endpoint(t, c.Snapshot, "service:default/big"), Protocol: model.TCP, Port: 80}
}

// TestEveryEndpointCounts: a service's endpoints on more nodes than the old bound of eight
// endpoints covered are all followed, and one dead endpoint makes the answer partial,
// naming it.
func TestEveryEndpointCounts(t *testing.T) {
	cases := map[string]struct {
		nodes, endpoints int
		fault            func(c *fixture.Cluster)
		want             Verdict
		summary          []string
	}{
		"12 endpoints on 12 nodes, healthy": {nodes: 13, endpoints: 12, want: Reachable, summary: []string{"and 11 more (every branch)"}},
		"12 endpoints on 3 nodes, healthy":  {nodes: 4, endpoints: 12, want: Reachable, summary: []string{"and 11 more (every branch)"}},
		"12 endpoints on 12 nodes, big-11's node drops its traffic": {nodes: 13, endpoints: 12,
			fault: func(c *fixture.Cluster) {
				fixture.InsertRule(c.Host("node-12"), "filter", "FORWARD -d "+c.PodIP("default", "big-11").String()+"/32 -j DROP")
			},
			want: PartiallyReachable, summary: []string{"arrives by 11 of 12 branches; 1 fail (IPTablesDrop)", "pod/default/big-11"}},
		"12 endpoints on 3 nodes, big-11's node drops its traffic": {nodes: 4, endpoints: 12,
			fault: func(c *fixture.Cluster) {
				fixture.InsertRule(c.Host("node-3"), "filter", "FORWARD -d "+c.PodIP("default", "big-11").String()+"/32 -j DROP")
			},
			want: PartiallyReachable, summary: []string{"arrives by 11 of 12 branches", "pod/default/big-11"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := spreadService(tc.nodes, tc.endpoints)
			if tc.fault != nil {
				tc.fault(c)
			}
			q := bigQuestion(t, c)
			plan := Plan(c.Snapshot, q)
			if got := len(plan.Nodes()); got != min(tc.nodes, tc.endpoints+1) {
				t.Errorf("the plan collects %d nodes %v, want every endpoint's and the client's", got, plan.Nodes())
			}
			res, err := Diagnose(Input{Cluster: c.Snapshot, Nodes: collected(c, plan), Question: q})
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tc.want {
				t.Fatalf("verdict %s, want %s: %s", res.Verdict, tc.want, res.Summary)
			}
			for _, s := range tc.summary {
				if !strings.Contains(res.Summary, s) {
					t.Errorf("summary %q does not say %q", res.Summary, s)
				}
			}
		})
	}
}

// TestLargeServiceSampled: endpoints on more nodes than the bound are followed on a spread of
// the nodes, the answer says how many of how many, and the verdict is never Unknown for it.
func TestLargeServiceSampled(t *testing.T) {
	c := spreadService(41, 80)
	q := bigQuestion(t, c)
	plan := PlanBounded(c.Snapshot, q, 10)
	if got := len(plan.Nodes()); got != 11 {
		t.Fatalf("the plan collects %d nodes %v, want 10 endpoint nodes and the client's", got, plan.Nodes())
	}
	if again := PlanBounded(c.Snapshot, q, 10); fmt.Sprint(again.Nodes()) != fmt.Sprint(plan.Nodes()) {
		t.Errorf("the spread is not deterministic: %v then %v", plan.Nodes(), again.Nodes())
	}
	res, err := (&Diagnostor{Plugins: plugins.Registry(), MaxServiceNodes: 10}).Diagnose(Input{Cluster: c.Snapshot, Nodes: collected(c, plan), Question: q})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Reachable {
		t.Fatalf("verdict %s, want Reachable: %s", res.Verdict, res.Summary)
	}
	if !strings.Contains(res.Summary, "checked 20 of 80 endpoints of Service default/big") {
		t.Errorf("summary %q does not say how many endpoints were checked", res.Summary)
	}
	if n := len(res.Path.Branches); n != 20 {
		t.Errorf("%d branches followed, want the 20 endpoints on the 10 nodes", n)
	}
	found := false
	for _, s := range res.Suspicions {
		found = found || (s.Reason == model.ReasonServiceEndpointsSampled && strings.Contains(s.Message, "80 usable endpoints on 40 nodes"))
	}
	if !found {
		t.Errorf("no %s note with the counts in %v", model.ReasonServiceEndpointsSampled, res.Suspicions)
	}
}
