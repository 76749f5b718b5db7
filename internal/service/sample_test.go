package service

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/netdiag/netdiag/internal/cluster"
)

// spreadSnapshot is a service web of endpoints endpoints, one a node round-robin over nodes
// nodes.
func spreadSnapshot(nodes, endpoints int) (*cluster.Snapshot, *corev1.Service) {
	snap := &cluster.Snapshot{}
	for i := range nodes {
		snap.Nodes = append(snap.Nodes, corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%03d", i)}})
	}
	es := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4}
	for i := range endpoints {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{fmt.Sprintf("10.%d.%d.%d", 1+i/65536, i/256%256, i%256)},
			NodeName:  ptr.To(fmt.Sprintf("node-%03d", i%nodes)),
		})
	}
	snap.EndpointSlices = []discoveryv1.EndpointSlice{es}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}}
	snap.Services = []corev1.Service{*svc}
	return snap, svc
}

func TestNewSample(t *testing.T) {
	cases := map[string]struct {
		nodes, endpoints, maxNodes int
		prefer                     string
		followed, followedNodes    int
	}{
		"fits":                             {nodes: 12, endpoints: 12, followed: 12, followedNodes: 12},
		"more nodes than the bound":        {nodes: 100, endpoints: 100, maxNodes: 10, followed: 10, followedNodes: 10},
		"more endpoints than branches":     {nodes: 10, endpoints: 1000, followed: MaxFollowed, followedNodes: 10},
		"1,000 endpoints on 500 nodes":     {nodes: 500, endpoints: 1000, followed: MaxFollowed, followedNodes: DefaultMaxNodes},
		"the preferred node is always one": {nodes: 100, endpoints: 100, maxNodes: 10, prefer: "node-001", followed: 10, followedNodes: 10},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			snap, svc := spreadSnapshot(tc.nodes, tc.endpoints)
			s := NewSample(snap, svc, tc.maxNodes, tc.prefer)
			if s.Endpoints != tc.endpoints || len(s.Followed) != tc.followed || len(s.FollowedNodes) != tc.followedNodes {
				t.Errorf("%d endpoints, %d followed on %d nodes; want %d, %d on %d", s.Endpoints, len(s.Followed), len(s.FollowedNodes), tc.endpoints, tc.followed, tc.followedNodes)
			}
			if tc.prefer != "" && !contains(s.FollowedNodes, tc.prefer) {
				t.Errorf("the preferred node %s is not among %v", tc.prefer, s.FollowedNodes)
			}
			if again := NewSample(snap, svc, tc.maxNodes, tc.prefer); fmt.Sprint(again.FollowedNodes) != fmt.Sprint(s.FollowedNodes) {
				t.Errorf("not deterministic: %v then %v", s.FollowedNodes, again.FollowedNodes)
			}
			s.SetEntries(snap, svc, nil, tc.maxNodes)
			if n := len(s.Entries) * len(s.Followed); n > maxBranches {
				t.Errorf("%d entries to %d endpoints make %d branches, more than the walk follows", len(s.Entries), len(s.Followed), n)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
