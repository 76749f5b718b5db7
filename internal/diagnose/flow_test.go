package diagnose

import (
	"strings"
	"testing"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/fixture/flowtest"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
)

// twoNodes is the cluster of the flow tests (flowtest.TwoNodes) on flannel.
func twoNodes(backend string) *fixture.Cluster {
	return flowtest.TwoNodes(flanneltest.New(backend, 2))
}

// endpoint names an endpoint as the command line does: pod:NS/NAME, service:NS/NAME,
// node:NAME, ip:IP.
func endpoint(t *testing.T, snap *cluster.Snapshot, s string) model.Endpoint {
	t.Helper()
	return flowtest.Endpoint(t, snap, ParseEndpointRef, s)
}

type flow struct {
	src, dst string
	proto    model.Protocol
	port     uint16
	// size and df ask about packets of that size (Question.Size, DontFragment).
	size int
	df   bool
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
	q := model.Question{Source: endpoint(t, c.Snapshot, f.src), Destination: endpoint(t, c.Snapshot, f.dst), Protocol: f.proto, Port: f.port, Size: f.size, DontFragment: f.df}
	res, err := Diagnose(Input{Cluster: c.Snapshot, Nodes: c.Nodes, Question: q})
	if err != nil {
		t.Fatalf("Diagnose: %v", err)
	}
	flowtest.Check(t,
		flowtest.Want{Verdict: string(f.want), Reasons: f.reasons, Via: f.via},
		flowtest.Got{Verdict: string(res.Verdict), Suspicions: res.Suspicions, Path: res.Path},
		func(b *strings.Builder) error { return WriteText(b, q, res) })
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
	for _, backend := range []string{flanneltest.VXLAN, flanneltest.HostGW} {
		for name, f := range cases {
			t.Run(backend+"/"+name, func(t *testing.T) { runFlow(t, backend, f) })
		}
	}
}

func TestShowOne(t *testing.T) {
	if testing.Short() {
		t.Skip()
	}
	c := twoNodes(flanneltest.VXLAN)
	q := model.Question{Source: endpoint(t, c.Snapshot, "pod:default/client"), Destination: endpoint(t, c.Snapshot, "service:default/web"), Protocol: model.TCP, Port: 80}
	res, err := Diagnose(Input{Cluster: c.Snapshot, Nodes: c.Nodes, Question: q})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	_ = WriteText(&b, q, res)
	t.Log(b.String())
}
