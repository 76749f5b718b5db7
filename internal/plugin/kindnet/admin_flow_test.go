package kindnet_test

import (
	"testing"

	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
)

// kindnetd is not known to enforce AdminNetworkPolicy: the walk judges the packet by
// NetworkPolicy alone and says the objects were left out.
func TestFlowsKindnetAdminNetworkPolicy(t *testing.T) {
	runFlow(t, flow{
		Fault: func(c *fixture.Cluster) { c.AdminIngress("default", "db", "no-db", "Deny", 10) },
		Want:  diagnose.Reachable, Info: []model.Reason{model.ReasonAdminNetworkPolicyNotEnforced},
	})
}
