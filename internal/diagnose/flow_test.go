package diagnose

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
)

// twoNodes is the cluster of the flow tests: client on node-0, web-0 on node-0, web-1 on
// node-1, the web service in front of both, and db (listening on 5432) on node-1.
func twoNodes(backend string) *fixture.Cluster {
	return fixture.NewFlannel(backend, 2).
		Pod("default", "client", 0, map[string]string{"app": "client"}).
		Pod("default", "web-0", 0, map[string]string{"app": "web"}, 8080).
		Pod("default", "web-1", 1, map[string]string{"app": "web"}, 8080).
		Pod("default", "db", 1, map[string]string{"app": "db"}, 5432).
		Service("default", "web", map[string]string{"app": "web"}, 80, 8080).
		Service("default", "empty", map[string]string{"app": "nothing"}, 80, 8080).
		Build()
}

// endpoint names an endpoint as the command line does: pod:NS/NAME, service:NS/NAME,
// node:NAME, ip:IP.
func endpoint(t *testing.T, snap *cluster.Snapshot, s string) model.Endpoint {
	t.Helper()
	ref, err := ParseEndpointRef(s)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := snap.Resolve(ref)
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

type flow struct {
	src, dst string
	proto    model.Protocol
	port     uint16
	// fault breaks the built cluster before the diagnosis.
	fault func(c *fixture.Cluster)

	want Verdict
	// reasons are the suspicion codes at Warning or above, in order.
	reasons []model.Reason
	// via are NetNode IDs the path must contain.
	via []string
}

// runFlow diagnoses one flow and prints the whole trace when it fails.
func runFlow(t *testing.T, backend string, f flow) {
	t.Helper()
	runFlowOn(t, twoNodes(backend), f)
}

// runFlowOn diagnoses one flow on a built cluster.
func runFlowOn(t *testing.T, c *fixture.Cluster, f flow) *Result {
	t.Helper()
	if f.fault != nil {
		f.fault(c)
	}
	q := model.Question{Source: endpoint(t, c.Snapshot, f.src), Destination: endpoint(t, c.Snapshot, f.dst), Protocol: f.proto, Port: f.port}
	res, err := Diagnose(Input{Cluster: c.Snapshot, Nodes: c.Nodes, Question: q})
	if err != nil {
		t.Fatalf("Diagnose: %v", err)
	}
	var got []model.Reason
	for _, s := range res.Suspicions {
		if s.Level >= model.Warning {
			got = append(got, s.Reason)
		}
	}
	var ids []string
	for _, n := range res.Path.Nodes {
		ids = append(ids, n.ID)
	}
	var problems []string
	if res.Verdict != f.want {
		problems = append(problems, fmt.Sprintf("verdict %s, want %s", res.Verdict, f.want))
	}
	if d := cmp.Diff(f.reasons, got); d != "" {
		problems = append(problems, "suspicions (-want +got):\n"+d)
	}
	for _, v := range f.via {
		if !slices.Contains(ids, v) {
			problems = append(problems, fmt.Sprintf("path %v does not pass %s", ids, v))
		}
	}
	if len(problems) > 0 {
		var b strings.Builder
		if err := WriteText(&b, q, res); err != nil {
			t.Fatal(err)
		}
		t.Errorf("%s\n\n%s", strings.Join(problems, "\n"), b.String())
	}
	return res
}

func TestFlowsFlannel(t *testing.T) {
	tcp := model.TCP
	cases := map[string]flow{
		"pod to pod on the same node": {
			src: "pod:default/client", dst: "pod:default/web-0", proto: tcp, port: 8080,
			want: Reachable, via: []string{"pod/default/client", "node/node-0", "pod/default/web-0"},
		},
		"pod to pod on another node": {
			src: "pod:default/client", dst: "pod:default/db", proto: tcp, port: 5432,
			want: Reachable, via: []string{"node/node-0", "node/node-1", "pod/default/db"},
		},
		"pod to service with endpoints on both nodes": {
			src: "pod:default/client", dst: "service:default/web", proto: tcp, port: 80,
			want: Reachable, via: []string{"service/default/web", "pod/default/web-0", "pod/default/web-1"},
		},
		"node to pod on another node": {
			src: "node:node-0", dst: "pod:default/db", proto: tcp, port: 5432,
			want: Reachable, via: []string{"node/node-0", "node/node-1", "pod/default/db"},
		},
		"pod to node": {
			src: "pod:default/client", dst: "node:node-1", proto: tcp, port: 10250,
			want: Reachable, via: []string{"node/node-1"},
		},
		"pod to the internet is masqueraded": {
			src: "pod:default/client", dst: "ip:1.1.1.1", proto: tcp, port: 443,
			want: Reachable, via: []string{"external/1.1.1.1"},
		},
		"nothing listening": {
			src: "pod:default/client", dst: "pod:default/db", proto: tcp, port: 3306,
			want: Unreachable, reasons: []model.Reason{model.ReasonNotListening},
		},
		"service without endpoints": {
			src: "pod:default/client", dst: "service:default/empty", proto: tcp, port: 80,
			want: Unreachable, reasons: []model.Reason{model.ReasonServiceNoEndpoints},
		},
	}
	for _, backend := range []string{fixture.VXLAN, fixture.HostGW} {
		for name, f := range cases {
			t.Run(backend+"/"+name, func(t *testing.T) { runFlow(t, backend, f) })
		}
	}
}

func TestShowOne(t *testing.T) {
	if testing.Short() {
		t.Skip()
	}
	c := twoNodes(fixture.VXLAN)
	q := model.Question{Source: endpoint(t, c.Snapshot, "pod:default/client"), Destination: endpoint(t, c.Snapshot, "service:default/web"), Protocol: model.TCP, Port: 80}
	res, err := Diagnose(Input{Cluster: c.Snapshot, Nodes: c.Nodes, Question: q})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	_ = WriteText(&b, q, res)
	t.Log(b.String())
}
