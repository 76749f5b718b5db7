package netfilter

import (
	"fmt"

	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/iptables"
	"github.com/netdiag/netdiag/internal/netstack/nftables"
)

// Parsers read a namespace's rule texts. A caller that evaluates many namespaces passes
// parsers that cache by content; a nil field uses the package's own parser.
type Parsers struct {
	IPTables func(save string) (*iptables.Ruleset, error)
	NFTables func(jsonText string) (*nftables.Ruleset, error)
}

// FromNetstack builds the evaluator of a namespace's netfilter rules: its iptables tables
// (with the ipsets they read and the addresses that are local) and its nftables ruleset.
func FromNetstack(stack *netstack.Netstack, parse Parsers) (*Rules, error) {
	if parse.IPTables == nil {
		parse.IPTables = iptables.Parse
	}
	if parse.NFTables == nil {
		parse.NFTables = nftables.Parse
	}
	var ipt *iptables.Ruleset
	if stack.IPTables != "" {
		var err error
		if ipt, err = parse.IPTables(stack.IPTables); err != nil {
			return nil, fmt.Errorf("parse iptables-save: %w", err)
		}
	}
	var nft *nftables.Ruleset
	if stack.NFTables != "" {
		var err error
		if nft, err = parse.NFTables(stack.NFTables); err != nil {
			return nil, fmt.Errorf("parse the nftables ruleset: %w", err)
		}
	}
	env, err := iptables.EnvFromNetstack(stack)
	if err != nil {
		return nil, fmt.Errorf("evaluation environment: %w", err)
	}
	return New(ipt, nft, env, Options{Legacy: stack.IPTablesBackend == "legacy"}), nil
}
