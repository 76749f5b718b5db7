package plugintest

import (
	"strings"
	"testing"

	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/fixture/flowtest"
	"github.com/netdiag/netdiag/internal/model"
)

// Flow is one row of a packet-flow table.
type Flow struct {
	// Src, Dst, Proto and Port default to TCP from pod client to pod db on 5432, the
	// flowtest.TwoNodes workload's way across nodes.
	Src, Dst string
	Proto    model.Protocol
	Port     uint16
	// Size and DF ask about packets of that size (model.Question's Size, DontFragment).
	Size int
	DF   bool
	// Fault breaks the built cluster before the diagnosis.
	Fault func(c *fixture.Cluster)
	// Config overrides the plugin's options for the diagnosis.
	Config map[string]string

	Want diagnose.Verdict
	// Reasons are the suspicion codes at Warning or above, most severe first.
	Reasons []model.Reason
	// Info are codes that must be among the Info suspicions.
	Info []model.Reason
	// Via are NetNode IDs the path must contain.
	Via []string
}

// Run diagnoses f on c, a cluster built for this row alone, and checks that the plugin
// simulated is plugin and the answer is f's.
func Run(t *testing.T, plugin string, c *fixture.Cluster, f Flow) *diagnose.Result {
	t.Helper()
	if f.Src == "" {
		f.Src, f.Dst, f.Proto, f.Port = "pod:default/client", "pod:default/db", model.TCP, 5432
	}
	if f.Fault != nil {
		f.Fault(c)
	}
	q := model.Question{
		Source:      flowtest.Endpoint(t, c.Snapshot, diagnose.ParseEndpointRef, f.Src),
		Destination: flowtest.Endpoint(t, c.Snapshot, diagnose.ParseEndpointRef, f.Dst),
		Protocol:    f.Proto, Port: f.Port, Size: f.Size, DontFragment: f.DF,
	}
	res, err := diagnose.Diagnose(diagnose.Input{Cluster: c.Snapshot, Nodes: c.Nodes, Question: q, NetworkPluginConfig: f.Config})
	if err != nil {
		t.Fatalf("Diagnose: %v", err)
	}
	flowtest.Check(t,
		flowtest.Want{Verdict: string(f.Want), Plugin: plugin, Reasons: f.Reasons, Info: f.Info, Via: f.Via},
		flowtest.Got{Verdict: string(res.Verdict), Plugin: res.NetworkPlugin, Suspicions: res.Suspicions, Path: res.Path},
		func(b *strings.Builder) error { return diagnose.WriteText(b, q, res) })
	return res
}

// Healthy are the paths every plugin must find Reachable on a healthy flowtest.TwoNodes
// cluster: a plugin's table starts from them and adds its own ways and faults.
func Healthy() map[string]Flow {
	tcp := model.TCP
	return map[string]Flow{
		"pod to pod on the same node": {
			Src: "pod:default/client", Dst: "pod:default/web-0", Proto: tcp, Port: 8080,
			Want: diagnose.Reachable, Via: []string{"pod/default/client", "node/node-0", "pod/default/web-0"},
		},
		"pod to pod on another node": {
			Want: diagnose.Reachable, Via: []string{"pod/default/client", "node/node-0", "node/node-1", "pod/default/db"},
		},
		"pod to a ClusterIP service with endpoints on both nodes": {
			Src: "pod:default/client", Dst: "service:default/web", Proto: tcp, Port: 80,
			Want: diagnose.Reachable, Via: []string{"service/default/web", "pod/default/web-0", "pod/default/web-1"},
		},
		"node to a pod on another node": {
			Src: "node:node-0", Dst: "pod:default/db", Proto: tcp, Port: 5432,
			Want: diagnose.Reachable, Via: []string{"node/node-0", "node/node-1", "pod/default/db"},
		},
	}
}
