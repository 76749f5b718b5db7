package controllers

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
)

func TestAPIServerArgs(t *testing.T) {
	slice := func(ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{Ports: ports, Endpoints: eps}
	}
	https := []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To[int32](6443)}}
	ep := func(ready *bool, addrs ...string) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: addrs, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
	}
	tests := map[string]struct {
		slices []*discoveryv1.EndpointSlice
		want   []string
	}{
		"every ready API server, in order, once": {
			slices: []*discoveryv1.EndpointSlice{
				slice(https, ep(nil, "10.0.0.12"), ep(ptr.To(true), "10.0.0.11")),
				slice(https, ep(nil, "10.0.0.11")),
			},
			want: []string{"--api-server", "10.0.0.11:6443", "--api-server", "10.0.0.12:6443"},
		},
		"an API server going away is not one to go to": {
			slices: []*discoveryv1.EndpointSlice{slice(https, ep(ptr.To(false), "10.0.0.11"), ep(nil, "10.0.0.12"))},
			want:   []string{"--api-server", "10.0.0.12:6443"},
		},
		"IPv6 addresses are bracketed": {
			slices: []*discoveryv1.EndpointSlice{slice(https, ep(nil, "fd00::11"))},
			want:   []string{"--api-server", "[fd00::11]:6443"},
		},
		"the only port, whatever its name": {
			slices: []*discoveryv1.EndpointSlice{slice([]discoveryv1.EndpointPort{{Port: ptr.To[int32](443)}}, ep(nil, "10.0.0.11"))},
			want:   []string{"--api-server", "10.0.0.11:443"},
		},
		// The collector then takes the kubernetes Service, as any pod would.
		"no slice":          {},
		"no ready endpoint": {slices: []*discoveryv1.EndpointSlice{slice(https, ep(ptr.To(false), "10.0.0.11"))}},
		"no port to go to":  {slices: []*discoveryv1.EndpointSlice{slice(nil, ep(nil, "10.0.0.11"))}},
		"not an IP address": {slices: []*discoveryv1.EndpointSlice{slice(https, ep(nil, "apiserver.example"))}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, apiServerArgs(tc.slices)); diff != "" {
				t.Errorf("apiServerArgs (-want +got):\n%s", diff)
			}
		})
	}
}
