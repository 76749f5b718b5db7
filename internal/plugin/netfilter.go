package plugin

import (
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/netfilter"
	"github.com/netdiag/netdiag/internal/plugin/hop"
)

// NewNetfilterFactory builds the evaluators of namespaces' netfilter rules (their iptables
// tables, the ipsets they read, and their nftables ruleset) with the rulesets parsed once
// per content in c, which whoever runs the diagnoses owns; a nil c parses every namespace's.
// The hop runs packets through the parsed rules (*netfilter.Rules) as they are.
func NewNetfilterFactory(c *netfilter.Cache) hop.NetfilterFactory {
	return func(stack *netstack.Netstack) (hop.Netfilter, error) {
		rules, err := c.FromNetstack(stack)
		if err != nil {
			return nil, err
		}
		return rules, nil
	}
}
