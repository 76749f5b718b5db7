package diagnose

import (
	"github.com/netdiag/netdiag/internal/model"
)

// Report is the result as `netdiag diagnose -o json|yaml` prints it: stable field names,
// levels as words, the path as hops and links.
type Report struct {
	Question    ReportQuestion    `json:"question"`
	Verdict     Verdict           `json:"verdict"`
	Summary     string            `json:"summary"`
	Plugin      string            `json:"networkPlugin"`
	Suspicions  []ReportSuspicion `json:"suspicions,omitempty"`
	Hops        []ReportHop       `json:"hops,omitempty"`
	Links       []ReportLink      `json:"links,omitempty"`
	Explanation []ReportStep      `json:"explanation,omitempty"`
}

// ReportQuestion is the question asked.
type ReportQuestion struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	Protocol    string `json:"protocol"`
	Port        uint16 `json:"port,omitempty"`
}

// ReportSuspicion is one suspicion.
type ReportSuspicion struct {
	Level     string `json:"level"`
	Reason    string `json:"reason"`
	Node      string `json:"node,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Interface string `json:"interface,omitempty"`
	Rule      string `json:"rule,omitempty"`
	Message   string `json:"message"`
}

// ReportHop is one NetNode of the path.
type ReportHop struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Name   string `json:"name"`
	Node   string `json:"node,omitempty"`
	Failed bool   `json:"failed,omitempty"`
}

// ReportLink is one link of the path.
type ReportLink struct {
	From          string `json:"from"`
	To            string `json:"to"`
	Type          string `json:"type"`
	FromInterface string `json:"fromInterface,omitempty"`
	ToInterface   string `json:"toInterface,omitempty"`
	Packet        string `json:"packet"`
}

// ReportStep is one step of the explanation.
type ReportStep struct {
	Hop       string `json:"hop"`
	Component string `json:"component"`
	Action    string `json:"action"`
	Detail    string `json:"detail,omitempty"`
	Packet    string `json:"packet"`
}

// NewReport turns a result into its printed form.
func NewReport(q model.Question, res *Result) Report {
	r := Report{
		Question: ReportQuestion{Source: q.Source.String(), Destination: q.Destination.String(), Protocol: string(q.Protocol), Port: q.Port},
		Verdict:  res.Verdict, Summary: res.Summary, Plugin: res.NetworkPlugin,
	}
	for _, s := range res.Suspicions {
		r.Suspicions = append(r.Suspicions, ReportSuspicion{Level: s.Level.String(), Reason: string(s.Reason), Node: s.Node, Pod: s.Pod, Interface: s.Interface, Rule: s.Rule, Message: s.Message})
	}
	if res.Path != nil {
		for _, n := range res.Path.Nodes {
			r.Hops = append(r.Hops, ReportHop{ID: n.ID, Type: string(n.Type), Name: n.Name, Node: n.Node, Failed: res.Path.Failed[n.ID]})
		}
		for _, l := range res.Path.Links {
			r.Links = append(r.Links, ReportLink{From: l.From, To: l.To, Type: string(l.Type), FromInterface: l.FromInterface, ToInterface: l.ToInterface, Packet: l.Packet.String()})
		}
	}
	for _, st := range res.Trace {
		r.Explanation = append(r.Explanation, ReportStep{Hop: st.NodeID, Component: st.Component, Action: st.Action, Detail: st.Detail, Packet: st.Packet.String()})
	}
	return r
}
