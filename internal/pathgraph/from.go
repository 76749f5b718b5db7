package pathgraph

import (
	"fmt"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/model"
)

// FromResult is the Graph of the engine's answer to q, as `netdiag diagnose` has it.
func FromResult(q model.Question, res *diagnose.Result) *Graph {
	var hops []Hop
	var links []rawLink
	if res.Path != nil {
		for _, n := range res.Path.Nodes {
			hops = append(hops, Hop{ID: n.ID, Type: string(n.Type), Name: n.Name, Group: groupOf(string(n.Type), n.Name, n.Node), Failed: res.Path.Failed[n.ID]})
		}
		for _, l := range res.Path.Links {
			links = append(links, rawLink{from: l.From, to: l.To, typ: string(l.Type), fromIf: l.FromInterface, toIf: l.ToInterface, pkt: l.Packet, text: l.Packet.String(), ok: true})
		}
	}
	return build(title(q.Source.String(), q.Destination.String()), string(res.Verdict), res.Summary, hops, links, res.Suspicions)
}

// FromStatus is the Graph of a NetworkDiagnosis's answer, as the API server holds it. A
// packet whose text cannot be read is shown as written and its link counted forward.
func FromStatus(st *diagv1alpha1.NetworkDiagnosisStatus) *Graph {
	var hops []Hop
	var links []rawLink
	truncated := false
	if pp := st.PacketPath; pp != nil {
		truncated = pp.Truncated
		for _, h := range pp.Hops {
			hops = append(hops, Hop{ID: h.ID, Type: string(h.Type), Name: h.Name, Group: groupOf(string(h.Type), h.Name, h.Node), Failed: h.Failed})
		}
		for _, l := range pp.Links {
			pkt, err := parsePacket(l.Packet)
			links = append(links, rawLink{from: l.From, to: l.To, typ: l.Type, fromIf: l.FromInterface, toIf: l.ToInterface, pkt: pkt, text: l.Packet, ok: err == nil})
		}
	}
	sus := make([]model.Suspicion, 0, len(st.Suspicions))
	for _, s := range st.Suspicions {
		sus = append(sus, model.Suspicion{Level: level(s.Level), Reason: model.Reason(s.Reason), Node: s.Node, Pod: s.Pod, Interface: s.Interface, Rule: s.Rule, Message: s.Message})
	}
	g := build(title(st.SourceSummary, st.DestinationSummary), string(st.Verdict), st.Summary, hops, links, sus)
	g.Truncated = truncated
	return g
}

func title(src, dst string) string {
	if src == "" && dst == "" {
		return "packet path"
	}
	return fmt.Sprintf("%s → %s", src, dst)
}

// groupOf is the Kubernetes node a hop is drawn in: a pod's node, or the node itself.
func groupOf(typ, name, node string) string {
	switch model.NetNodeType(typ) {
	case model.NetNodePod:
		return node
	case model.NetNodeNode:
		if node != "" {
			return node
		}
		return name
	}
	return ""
}

func level(l diagv1alpha1.SuspicionLevel) model.Level {
	switch l {
	case diagv1alpha1.LevelWarning:
		return model.Warning
	case diagv1alpha1.LevelCritical:
		return model.Critical
	case diagv1alpha1.LevelFatal:
		return model.Fatal
	}
	return model.Info
}
