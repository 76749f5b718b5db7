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
