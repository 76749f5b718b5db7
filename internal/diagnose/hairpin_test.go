package diagnose

import (
	"testing"

	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
)

// TestHairpinMode: web-0 reaching itself through its Service leaves the bridge by the port it
// came in by, which only hairpin mode allows; the branch to web-1 is not concerned.
func TestHairpinMode(t *testing.T) {
	cases := map[string]struct {
		hairpin *bool
		want    Verdict
		reasons []model.Reason
	}{
		"hairpin on":            {hairpin: new(true), want: Reachable},
		"hairpin not collected": {want: Reachable},
		"hairpin off":           {hairpin: new(false), want: PartiallyReachable, reasons: []model.Reason{model.ReasonServiceHairpinModeOff}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			runFlowOn(t, twoNodes("vxlan"), flow{
				src: "pod:default/web-0", dst: "service:default/web", proto: model.TCP, port: 80,
				fault: func(c *fixture.Cluster) {
					h := c.Host("node-0")
					for i := range h.Interfaces {
						if h.Interfaces[i].Master == "cni0" {
							h.Interfaces[i].Hairpin = tc.hairpin
						}
					}
				},
				want: tc.want, reasons: tc.reasons,
			})
		})
	}
}
