package diagnose

import (
	"cmp"
	"fmt"
	"net/netip"

	"github.com/netdiag/netdiag/internal/model"
)

// Report is the result as `netdiag diagnose -o json|yaml` prints it, and what the text
// report is drawn from: stable field names, levels as words; the short answer first, then
// each branch of the packet's way forward and back, then the path as hops and links and
// every step in the order the walk took them.
type Report struct {
	Answer   Answer         `json:"answer"`
	Question ReportQuestion `json:"question"`
	Verdict  Verdict        `json:"verdict"`
	Summary  string         `json:"summary"`
	Plugin   string         `json:"networkPlugin"`
	// Branches are the ways the packet takes, in the order they fork.
	Branches    []ReportBranch    `json:"branches,omitempty"`
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
	// Text is the question in a few words ("TCP/80 from pod/shop/client to service/shop/web").
	Text string `json:"text"`
}

// ReportBranch is one way of the packet: where it goes, the share of new connections a
// service sends there, how it ended, and its hops forward and back.
type ReportBranch struct {
	// To is where the branch goes: the NetNode the forward packet arrived at, else the
	// address a service's choice sent it to; empty for a branch that stopped on its way to
	// the question's destination.
	To string `json:"to,omitempty"`
	// At is the NetNode where a branch that did not arrive stops.
	At string `json:"at,omitempty"`
	// Share is the part of new connections (0 to 1) the service's choice sends this way;
	// zero when the packet did not fork.
	Share   float64           `json:"share,omitempty"`
	End     string            `json:"end"`
	Why     string            `json:"why,omitempty"`
	Forward []ReportBranchHop `json:"forward"`
	Reply   []ReportBranchHop `json:"reply,omitempty"`
}

// ReportBranchHop is one NetNode of a branch: what it did in a few words, the service's
// choice made there, and every step it took for this branch.
type ReportBranchHop struct {
	At string `json:"at"`
	// Did says what mattered: the interface in, a translation or a drop, the socket that
	// took the packet, the interface out.
	Did    string        `json:"did,omitempty"`
	Choice *ReportChoice `json:"choice,omitempty"`
	// Failed marks the hop where a branch that did not arrive stops.
	Failed bool         `json:"failed,omitempty"`
	Packet string       `json:"packet,omitempty"`
	Steps  []ReportStep `json:"steps,omitempty"`
}

// ReportChoice is a service's choice of an endpoint for a branch.
type ReportChoice struct {
	// By is the proxy that chose ("kube-proxy iptables").
	By string `json:"by"`
	// To is the endpoint's address and port the packet was translated to.
	To    string  `json:"to"`
	Share float64 `json:"share"`
	// Action says it in full, with the service and port.
	Action string `json:"action"`
	Rule   string `json:"rule,omitempty"`
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
	// Hop is empty in a branch's hop, which names it.
	Hop       string `json:"hop,omitempty"`
	Component string `json:"component"`
	Action    string `json:"action"`
	Detail    string `json:"detail,omitempty"`
	Packet    string `json:"packet"`
}

// NewReport turns a result into its printed form.
func NewReport(q model.Question, res *Result) Report {
	r := Report{
		Answer:   NewAnswer(res),
		Question: ReportQuestion{Source: q.Source.String(), Destination: q.Destination.String(), Protocol: string(q.Protocol), Port: q.Port, Text: describe(q)},
		Verdict:  res.Verdict, Summary: res.Summary, Plugin: res.NetworkPlugin,
	}
	r.Branches = Branches(res)
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

func choiceOf(s model.Step) ReportChoice {
	return ReportChoice{By: s.Component, To: netip.AddrPortFrom(s.Packet.Dst, s.Packet.DstPort).String(), Share: s.Share, Action: s.Action, Rule: s.Detail}
}

// String says the choice in a few words: "kube-proxy iptables DNAT to 10.244.1.7:8080 (50%
// of new connections)".
func (c ReportChoice) String() string {
	return fmt.Sprintf("%s DNAT to %s (%.0f%% of new connections)", c.By, c.To, c.Share*100)
}

// Branches tells each branch of the result's path as the reports print it.
func Branches(res *Result) []ReportBranch {
	if res.Path == nil {
		return nil
	}
	var out []ReportBranch
	for _, b := range res.Path.Branches {
		out = append(out, reportBranch(b))
	}
	return out
}

// reportBranch tells one branch: its hops in each direction with what each did, the last
// one marked when the branch did not arrive.
func reportBranch(b model.Branch) ReportBranch {
	fwd, reply := b.Forward()
	rb := ReportBranch{End: b.End, Why: b.Why}
	if failed(b) {
		rb.At = b.Hops[len(b.Hops)-1].NodeID
	}
	if len(fwd) > 0 && (len(reply) > 0 || !failed(b)) {
		rb.To = fwd[len(fwd)-1].NodeID
	}
	way := func(hops []model.BranchHop) []ReportBranchHop {
		var out []ReportBranchHop
		for i, h := range hops {
			var next *model.Link
			if i+1 < len(hops) {
				next = hops[i+1].In
			}
			rh := ReportBranchHop{At: h.NodeID, Did: hopSummary(h, next), Failed: failed(b) && &hops[i] == &b.Hops[len(b.Hops)-1]}
			if len(h.Steps) > 0 {
				rh.Packet = h.Steps[0].Packet.String()
			}
			if c := h.Choice; c != nil {
				// A packet balanced twice (a node port to a service, then to a pod) takes
				// this way with the product of the shares.
				choice := choiceOf(*c)
				rh.Choice, rb.Share = &choice, cmp.Or(rb.Share, 1)*c.Share
				rb.To = cmp.Or(rb.To, choice.To)
			}
			for _, st := range h.Steps {
				rh.Steps = append(rh.Steps, ReportStep{Component: st.Component, Action: st.Action, Detail: st.Detail, Packet: st.Packet.String()})
			}
			out = append(out, rh)
		}
		return out
	}
	rb.Forward, rb.Reply = way(fwd), way(reply)
	return rb
}
