package service

import (
	"net/netip"
	"slices"
	"testing"
)

func TestExpectedTopology(t *testing.T) {
	ep := func(ip string, ready, terminating bool, node string, zones, nodes []string) sliceEndpoint {
		return sliceEndpoint{Addr: netip.AddrPortFrom(netip.MustParseAddr(ip), 8080), Node: node, Ready: ready, Serving: ready || terminating,
			Terminating: terminating, ZoneHints: zones, NodeHints: nodes}
	}
	a, b, c := "10.0.0.1", "10.0.0.2", "10.0.0.3"
	cases := map[string]struct {
		all   []sliceEndpoint
		node  string
		zone  string
		local bool
		want  []string
	}{
		"no hints: every ready endpoint": {
			all:  []sliceEndpoint{ep(a, true, false, "n1", nil, nil), ep(b, true, false, "n2", nil, nil)},
			node: "n1", zone: "z1", want: []string{a, b}},
		"zone hints: the node's zone only": {
			all:  []sliceEndpoint{ep(a, true, false, "n1", []string{"z1"}, nil), ep(b, true, false, "n2", []string{"z2"}, nil), ep(c, true, false, "n3", []string{"z1"}, nil)},
			node: "n2", zone: "z1", want: []string{a, c}},
		"zone hints, one endpoint without: hints ignored": {
			all:  []sliceEndpoint{ep(a, true, false, "n1", []string{"z1"}, nil), ep(b, true, false, "n2", nil, nil)},
			node: "n1", zone: "z1", want: []string{a, b}},
		"zone hints for no endpoint of the node's zone: all": {
			all:  []sliceEndpoint{ep(a, true, false, "n1", []string{"z1"}, nil), ep(b, true, false, "n2", []string{"z2"}, nil)},
			node: "n3", zone: "z3", want: []string{a, b}},
		"node hints (PreferSameNode): the node's own": {
			all:  []sliceEndpoint{ep(a, true, false, "n1", []string{"z1"}, []string{"n1"}), ep(b, true, false, "n2", []string{"z1"}, []string{"n2"})},
			node: "n2", zone: "z1", want: []string{b}},
		"node hints, none for this node: the zone's": {
			all:  []sliceEndpoint{ep(a, true, false, "n1", []string{"z1"}, []string{"n1"}), ep(b, true, false, "n2", []string{"z2"}, []string{"n2"})},
			node: "n3", zone: "z2", want: []string{b}},
		"terminating endpoints only when none is ready": {
			all:  []sliceEndpoint{ep(a, false, true, "n1", nil, nil), ep(b, true, false, "n2", nil, nil)},
			node: "n1", want: []string{b}},
		"every endpoint terminating: the serving ones": {
			all:  []sliceEndpoint{ep(a, false, true, "n1", nil, nil), ep(b, false, false, "n2", nil, nil)},
			node: "n1", want: []string{a}},
		"Local policy ignores hints": {
			all:  []sliceEndpoint{ep(a, true, false, "n1", []string{"z2"}, nil), ep(b, true, false, "n2", []string{"z1"}, nil)},
			node: "n1", zone: "z1", local: true, want: []string{a}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			eps, _ := expected(tc.all, tc.node, tc.zone, tc.local)
			var got []string
			for _, e := range eps {
				got = append(got, e.Addr.Addr().String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("endpoints %v, want %v", got, tc.want)
			}
		})
	}
}
