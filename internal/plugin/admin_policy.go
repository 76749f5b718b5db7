package plugin

// AdminPolicyEnforcer is what a plugin that enforces the network-policy-api's cluster-wide
// policies (AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy) says of
// itself. A plugin that does not implement it is taken not to enforce them: the walk then
// judges packets by NetworkPolicy alone and says the objects were left out.
type AdminPolicyEnforcer interface {
	EnforcesAdminPolicy() bool
}

// EnforcesAdminPolicy is true: with the plugin unknown, a cluster-wide policy that denies is
// taken at its word, as NetworkPolicy is.
func (g *Generic) EnforcesAdminPolicy() bool { return true }
