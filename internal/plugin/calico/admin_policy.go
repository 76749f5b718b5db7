package calico

// EnforcesAdminPolicy is true: felix programs AdminNetworkPolicy (Calico 3.29) and
// BaselineAdminNetworkPolicy (3.30) as tiers of their own before and after NetworkPolicy.
func (p *Plugin) EnforcesAdminPolicy() bool { return true }
