package network

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin"
)

// hopTo is a NetNodeAction that passes every packet on to the next NetNode by name; an
// empty next delivers it.
type hopTo struct {
	self *model.NetNode
	next string
}

func (h hopTo) Send(model.Endpoint, model.Packet) (*plugin.HopResult, error) { return nil, nil }

func (h hopTo) Receive(t *plugin.Transmission) (*plugin.HopResult, error) {
	if h.next == "" {
		return &plugin.HopResult{Ends: []plugin.End{{Kind: plugin.Delivered, NodeID: h.self.ID, Packet: t.Packet}}}, nil
	}
	to := &model.NetNode{ID: h.next, Type: model.NetNodeNode, Name: h.next}
	return &plugin.HopResult{Next: []*plugin.Transmission{{Transmission: model.Transmission{From: h.self, To: to, Packet: t.Packet, Link: model.Link{Type: model.LinkHost, ToInterface: "eth0"}}}}}, nil
}

func TestWalk(t *testing.T) {
	pkt := model.Packet{Protocol: model.TCP, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), SrcPort: 40000, DstPort: 80}
	cases := map[string]struct {
		// next maps each NetNode to the one it passes the packet to.
		next     map[string]string
		hopLimit int
		wantEnds []string
		wantWhy  model.Reason
	}{
		"delivered after two hops": {next: map[string]string{"a": "b", "b": ""}, wantEnds: []string{"Delivered b"}},
		"a loop between two nodes": {next: map[string]string{"a": "b", "b": "a"}, wantEnds: []string{"Dropped b"}, wantWhy: model.ReasonRoutingLoop},
		"a chain longer than the hop limit": {next: map[string]string{"a": "b", "b": "c", "c": "d", "d": ""}, hopLimit: 2,
			wantEnds: []string{"Dropped c"}, wantWhy: model.ReasonHopLimitExceeded},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			src := &model.NetNode{ID: "src", Type: model.NetNodePod}
			first := &plugin.HopResult{Next: []*plugin.Transmission{{Transmission: model.Transmission{From: src, To: &model.NetNode{ID: "a", Name: "a"}, Packet: pkt, Link: model.Link{Type: model.LinkVeth}}}}}
			resolve := func(n *model.NetNode) (plugin.NetNodeAction, error) { return hopTo{self: n, next: c.next[n.ID]}, nil }
			tr, err := Walk(first, src, resolve, c.hopLimit)
			if err != nil {
				t.Fatal(err)
			}
			var ends []string
			for _, e := range tr.Ends {
				ends = append(ends, string(e.Kind)+" "+e.NodeID)
			}
			if diff := cmp.Diff(c.wantEnds, ends); diff != "" {
				t.Errorf("ends (-want +got):\n%s", diff)
			}
			if c.wantWhy != "" && (len(tr.Suspicions) == 0 || tr.Suspicions[0].Reason != c.wantWhy) {
				t.Errorf("suspicions %v, want %s", tr.Suspicions, c.wantWhy)
			}
		})
	}
}

// forker is a NetNodeAction for the branch tests: "lb" translates the packet to two
// endpoints, recording both choices in one visit as a node's service proxy does; "b"
// answers, and the reply goes back through "lb" to the source; "c" drops.
type forker struct{ self *model.NetNode }

func (f forker) Send(model.Endpoint, model.Packet) (*plugin.HopResult, error) { return nil, nil }

func (f forker) Receive(t *plugin.Transmission) (*plugin.HopResult, error) {
	step := func(action string, p model.Packet, share float64) model.Step {
		return model.Step{NodeID: f.self.ID, Component: "proxy", Action: action, Packet: p, Share: share}
	}
	send := func(to string, p model.Packet, reply string) *plugin.Transmission {
		return &plugin.Transmission{Transmission: model.Transmission{From: f.self, To: &model.NetNode{ID: to, Name: to}, Packet: p, Link: model.Link{Type: model.LinkVeth, FromInterface: "to-" + to, ToInterface: "from-" + f.self.ID}}, Reply: reply}
	}
	r := &plugin.HopResult{}
	p := t.Packet
	switch {
	case f.self.ID == "lb" && t.Reply != "":
		back := p
		back.Src = vip
		r.Steps = []model.Step{step("in", p, 0), step("un-DNAT", back, 0)}
		r.Next = []*plugin.Transmission{send("src", back, t.Reply)}
	case f.self.ID == "lb":
		toB, toC := p, p
		toB.Dst, toC.Dst = epB, epC
		r.Steps = []model.Step{step("in", p, 0), step("DNAT b", toB, 0.5), step("DNAT c", toC, 0.5), step("route b", toB, 0), step("route c", toC, 0)}
		r.Next = []*plugin.Transmission{send("b", toB, ""), send("c", toC, "")}
	case f.self.ID == "b":
		rep := p.Reply()
		r.Steps = []model.Step{step("deliver", p, 0), step("reply", rep, 0)}
		r.Next = []*plugin.Transmission{send("lb", rep, "b")}
	case f.self.ID == "c":
		r.Steps = []model.Step{step("drop", p, 0)}
		r.Ends = []plugin.End{{Kind: plugin.Dropped, NodeID: "c", Packet: p, Why: "c drops it"}}
	case f.self.ID == "src":
		r.Steps = []model.Step{step("reply delivered", p, 0)}
		r.Ends = []plugin.End{{Kind: plugin.Delivered, NodeID: t.Reply, Packet: p}}
	}
	return r, nil
}

var (
	vip = netip.MustParseAddr("10.96.0.1")
	epB = netip.MustParseAddr("10.0.0.2")
	epC = netip.MustParseAddr("10.0.0.3")
)

// TestWalkBranches follows a packet a service forks in two: each branch holds its own hops
// in order, forward then reply, with only its own steps at the NetNode that forked it and
// the choice that sent it there.
func TestWalkBranches(t *testing.T) {
	pkt := model.Packet{Protocol: model.TCP, Src: netip.MustParseAddr("10.0.0.1"), Dst: vip, SrcPort: 40000, DstPort: 80}
	src := &model.NetNode{ID: "src", Type: model.NetNodePod}
	first := &plugin.HopResult{
		Steps: []model.Step{{NodeID: "src", Component: "route", Action: "unicast", Packet: pkt}},
		Next:  []*plugin.Transmission{{Transmission: model.Transmission{From: src, To: &model.NetNode{ID: "lb", Name: "lb"}, Packet: pkt, Link: model.Link{Type: model.LinkVeth, FromInterface: "eth0"}}}},
	}
	tr, err := Walk(first, src, func(n *model.NetNode) (plugin.NetNodeAction, error) { return forker{self: n}, nil }, 0)
	if err != nil {
		t.Fatal(err)
	}
	type hop struct {
		ID     string
		Reply  bool
		Steps  []string
		Choice string
	}
	var got [][]hop
	var ends []string
	for _, b := range tr.Path.Branches {
		var hs []hop
		for _, h := range b.Hops {
			x := hop{ID: h.NodeID, Reply: h.Reply}
			for _, s := range h.Steps {
				x.Steps = append(x.Steps, s.Action)
			}
			if h.Choice != nil {
				x.Choice = h.Choice.Action
			}
			hs = append(hs, x)
		}
		got = append(got, hs)
		ends = append(ends, b.End+" "+b.Why)
	}
	want := [][]hop{
		{
			{ID: "src", Steps: []string{"unicast"}},
			{ID: "lb", Steps: []string{"in", "DNAT b", "route b"}, Choice: "DNAT b"},
			{ID: "b", Steps: []string{"deliver"}},
			{ID: "b", Reply: true, Steps: []string{"reply"}},
			{ID: "lb", Reply: true, Steps: []string{"in", "un-DNAT"}},
			{ID: "src", Reply: true, Steps: []string{"reply delivered"}},
		},
		{
			{ID: "src", Steps: []string{"unicast"}},
			{ID: "lb", Steps: []string{"in", "DNAT c", "route c"}, Choice: "DNAT c"},
			{ID: "c", Steps: []string{"drop"}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("branches (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Delivered ", "Dropped c drops it"}, ends); diff != "" {
		t.Errorf("ends (-want +got):\n%s", diff)
	}
	if in := tr.Path.Branches[0].Hops[1].In; in == nil || in.From != "src" || in.To != "lb" || in.FromInterface != "eth0" {
		t.Errorf("the first branch enters lb by %+v, want the link from src by eth0", in)
	}
}

// TestVisitWaysManyEndpoints splits the visit of a service with a thousand endpoints: each
// way gets the step that arrived and its own choice and route, and nothing of the others.
func TestVisitWaysManyEndpoints(t *testing.T) {
	in := model.Packet{Protocol: model.TCP, Src: netip.MustParseAddr("10.0.0.1"), Dst: vip, SrcPort: 40000, DstPort: 80}
	r := &plugin.HopResult{Steps: []model.Step{{Action: "in", Packet: in}}}
	const n = 1000
	for i := range n {
		p := in
		p.Dst = netip.AddrFrom4([4]byte{10, 1, byte(i / 256), byte(i % 256)})
		r.Steps = append(r.Steps, model.Step{Action: "DNAT", Packet: p, Share: 1.0 / n})
		r.Next = append(r.Next, &plugin.Transmission{Transmission: model.Transmission{Packet: p}})
	}
	for _, nx := range r.Next {
		r.Steps = append(r.Steps, model.Step{Action: "route", Packet: nx.Packet})
	}
	ways, hops := visitWays("lb", nil, in, false, r)
	if len(ways) != n {
		t.Fatalf("%d ways, want %d", len(ways), n)
	}
	for i, h := range hops {
		var got []string
		for _, s := range h[0].Steps {
			got = append(got, s.Action+" "+s.Packet.Dst.String())
		}
		dst := r.Next[i].Packet.Dst.String()
		want := []string{"in " + vip.String(), "DNAT " + dst, "route " + dst}
		if diff := cmp.Diff(want, got); diff != "" || h[0].Choice == nil {
			t.Fatalf("way %d (-want +got):\n%s", i, diff)
		}
	}
}
