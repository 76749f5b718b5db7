package diagnose

import (
	"net/netip"
	"testing"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
)

// What FormatEndpointRef writes, ParseEndpointRef reads back to the same reference: a bundle's
// question is asked again through the command line.
func TestFormatEndpointRefRoundTrips(t *testing.T) {
	for _, r := range []cluster.EndpointRef{
		{Type: model.EndpointPod, Namespace: "shop", Name: "web"},
		{Type: model.EndpointService, Namespace: "shop", Name: "db"},
		{Type: model.EndpointNode, Name: "node-1"},
		{Type: model.EndpointExternal, IP: netip.MustParseAddr("10.0.0.7")},
		{Type: model.EndpointExternal, IP: netip.MustParseAddr("fd00::7")},
	} {
		s := FormatEndpointRef(r)
		back, err := ParseEndpointRef(s)
		if err != nil {
			t.Errorf("ParseEndpointRef(%q): %v", s, err)
			continue
		}
		if back != r {
			t.Errorf("ParseEndpointRef(FormatEndpointRef(%v)) = %v, via %q", r, back, s)
		}
	}
}
