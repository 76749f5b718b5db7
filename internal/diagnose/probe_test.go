package diagnose

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
)

// The probe the collector on the source's node sent is weighed against the simulation: a
// disagreement is a Warning, an Unknown verdict gets the probe's outcome as an Info, and the
// verdict itself never changes.
func TestProbeAgainstVerdict(t *testing.T) {
	timedOut := &netstack.ProbeResult{Message: "TCP connect to port 5432 of 10.244.1.11: no answer within 3s: dropped on the way or by a silent rule"}
	connected := &netstack.ProbeResult{Reachable: true, Message: "TCP connection to 10.244.1.11:5432 established"}
	refused := &netstack.ProbeResult{Message: "TCP connect to port 5432 of 10.244.1.11: connection refused: nothing listens on the port, or a rule rejects the connection"}
	notSent := &netstack.ProbeResult{Inconclusive: true, Message: "probe not sent: no network namespace found for pod default/client"}
	blackhole := func(c *fixture.Cluster) { fixture.Blackhole(c.Host("node-0"), "10.244.1.0/24") }
	uncollected := func(c *fixture.Cluster) { delete(c.Nodes, "node-1") }
	client := "default/client"
	// The probe's suspicions from the client's node, as every row from the pod expects them.
	disagrees := &model.Suspicion{Level: model.Warning, Reason: model.ReasonProbeDisagrees, Node: "node-0", Pod: client}
	observed := &model.Suspicion{Level: model.Info, Reason: model.ReasonProbeObserved, Node: "node-0", Pod: client}
	fromClient := "a real TCP probe from pod default/client on node node-0"

	tests := map[string]struct {
		src   string
		fault func(c *fixture.Cluster)
		// probe is put in the snapshot of probeNode (default node-0, the source's).
		probe     *netstack.ProbeResult
		probeNode string

		wantVerdict Verdict
		// want is the probe's suspicion without its message; nil: none.
		want *model.Suspicion
		// msgHas are parts of the suspicion's message; summaryHas is what the probe adds to
		// the simulation's summary.
		msgHas     []string
		summaryHas string
	}{
		"Reachable, and the probe connected": {
			probe: connected, wantVerdict: Reachable,
		},
		"Reachable, but the probe timed out": {
			probe: timedOut, wantVerdict: Reachable,
			want:       disagrees,
			msgHas:     []string{"says Reachable", fromClient + " did not get through", timedOut.Message},
			summaryHas: "; but " + fromClient + " did not get through (ProbeDisagrees)",
		},
		"Reachable, but the probe was refused": {
			probe: refused, wantVerdict: Reachable,
			want:       disagrees,
			msgHas:     []string{"says Reachable", "did not get through", "connection refused"},
			summaryHas: "; but " + fromClient + " did not get through (ProbeDisagrees)",
		},
		"Unreachable (a blackhole route), but the probe connected": {
			fault: blackhole, probe: connected, wantVerdict: Unreachable,
			want:       disagrees,
			msgHas:     []string{"says Unreachable", fromClient + " got through", connected.Message},
			summaryHas: "; but " + fromClient + " got through (ProbeDisagrees)",
		},
		"Unreachable, and the probe timed out": {
			fault: blackhole, probe: timedOut, wantVerdict: Unreachable,
		},
		"Unknown (the destination node not collected), and the probe connected": {
			fault: uncollected, probe: connected, wantVerdict: Unknown,
			want:       observed,
			msgHas:     []string{"could not decide", fromClient + " got through", connected.Message},
			summaryHas: "; " + fromClient + " got through",
		},
		"Unknown, and the probe timed out": {
			fault: uncollected, probe: timedOut, wantVerdict: Unknown,
			want:       observed,
			msgHas:     []string{"could not decide", "did not get through", timedOut.Message},
			summaryHas: "; " + fromClient + " did not get through",
		},
		"Reachable, and the probe was not sent": {
			probe: notSent, wantVerdict: Reachable,
			want:   observed,
			msgHas: []string{"tells neither way", notSent.Message},
		},
		"Unreachable, and a UDP probe met silence": {
			fault: blackhole, wantVerdict: Unreachable,
			probe: &netstack.ProbeResult{Inconclusive: true, Message: "UDP to 10.244.1.11:5432: no reply and no ICMP error within 3s"},
			want:  observed,
		},
		"from the node itself, Reachable, but the probe timed out": {
			src: "node:node-0", probe: timedOut, wantVerdict: Reachable,
			want:       &model.Suspicion{Level: model.Warning, Reason: model.ReasonProbeDisagrees, Node: "node-0"},
			msgHas:     []string{"a real TCP probe from node node-0 did not get through"},
			summaryHas: "; but a real TCP probe from node node-0 did not get through (ProbeDisagrees)",
		},
		"a probe in another node's snapshot is not the source's": {
			probe: timedOut, probeNode: "node-1", wantVerdict: Reachable,
		},
		"no probe": {
			wantVerdict: Reachable,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := twoNodes(flanneltest.VXLAN)
			if tc.fault != nil {
				tc.fault(c)
			}
			src := tc.src
			if src == "" {
				src = "pod:default/client"
			}
			q := model.Question{Source: endpoint(t, c.Snapshot, src), Destination: endpoint(t, c.Snapshot, "pod:default/db"), Protocol: model.TCP, Port: 5432}
			in := Input{Cluster: c.Snapshot, Nodes: c.Nodes, Question: q}
			simulated, err := Diagnose(in)
			if err != nil {
				t.Fatal(err)
			}
			if tc.probe != nil {
				c.Nodes[cmpOr(tc.probeNode, "node-0")].Probe = tc.probe
			}
			res, err := Diagnose(in)
			if err != nil {
				t.Fatal(err)
			}

			if res.Verdict != tc.wantVerdict || simulated.Verdict != tc.wantVerdict {
				t.Errorf("verdict %s (without the probe %s), want %s: the probe must not change it", res.Verdict, simulated.Verdict, tc.wantVerdict)
			}
			var got []model.Suspicion
			var msg string
			for _, s := range res.Suspicions {
				if s.Reason == model.ReasonProbeDisagrees || s.Reason == model.ReasonProbeObserved {
					msg = s.Message
					s.Message = ""
					got = append(got, s)
				}
			}
			var want []model.Suspicion
			if tc.want != nil {
				want = []model.Suspicion{*tc.want}
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("probe suspicions (-want +got):\n%s", d)
			}
			for _, part := range tc.msgHas {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q lacks %q", msg, part)
				}
			}
			if !strings.HasPrefix(res.Summary, simulated.Summary) {
				t.Errorf("summary %q does not start with the simulation's %q", res.Summary, simulated.Summary)
			}
			if added := strings.TrimPrefix(res.Summary, simulated.Summary); added != tc.summaryHas {
				t.Errorf("summary adds %q, want %q", added, tc.summaryHas)
			}
			if len(res.Suspicions) != len(simulated.Suspicions)+len(got) {
				t.Errorf("suspicions: %d with the probe, %d without: the probe adds only its own", len(res.Suspicions), len(simulated.Suspicions))
			}
		})
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
