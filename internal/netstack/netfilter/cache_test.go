package netfilter

import (
	"testing"

	"github.com/netdiag/netdiag/internal/netstack/iptables"
)

// TestCacheKeepsSizeRulesets checks that a cache hands back the ruleset it parsed for the
// same text, and forgets the oldest when it holds as many as it may.
func TestCacheKeepsSizeRulesets(t *testing.T) {
	text := func(policy string) string { return "*filter\n:INPUT " + policy + " [0:0]\nCOMMIT\n" }
	c := NewCache(1)
	parse := c.Parsers().IPTables
	get := func(s string) *iptables.Ruleset {
		t.Helper()
		rs, err := parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	accept := get(text("ACCEPT"))
	if get(text("ACCEPT")) != accept {
		t.Error("the same text was parsed twice")
	}
	if drop := get(text("DROP")); drop == accept || drop.Chain(iptables.TableFilter, "INPUT").Policy != "DROP" {
		t.Error("another text got the cached ruleset")
	}
	if get(text("ACCEPT")) == accept {
		t.Error("a cache of one kept two rulesets")
	}
	if _, err := c.Parsers().IPTables("-A INPUT -j ACCEPT\n"); err == nil {
		t.Error("a text outside a table parsed")
	}
	var none *Cache
	if none.Parsers().IPTables != nil {
		t.Error("a nil cache has parsers of its own")
	}
}
