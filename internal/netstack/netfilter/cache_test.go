package netfilter

import (
	"testing"

	"github.com/netdiag/netdiag/internal/netstack"
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

// TestCacheFindsCollectedDigests: namespaces whose collectors wrote the same digest share
// one parse, as namespaces of the same text without digests do, and a namespace whose rules
// a fault replaced after collection is parsed from its own text.
func TestCacheFindsCollectedDigests(t *testing.T) {
	// Both policies make texts of one length, so only the digest tells them apart.
	text := func(policy string) string {
		counters := map[string]string{"ACCEPT": "[0:0]", "DROP": "[0:000]"}[policy]
		return "*filter\n:INPUT " + policy + " " + counters + "\nCOMMIT\n"
	}
	collected := func(policy string) *netstack.Netstack {
		ns := &netstack.Netstack{IPTables: text(policy)}
		ns.SetDigests()
		return ns
	}
	c := NewCache(DefaultCacheSize)
	rules := func(ns *netstack.Netstack) *iptables.Ruleset {
		t.Helper()
		r, err := c.FromNetstack(ns)
		if err != nil {
			t.Fatal(err)
		}
		return r.IPTables
	}
	node1, node2 := collected("ACCEPT"), collected("ACCEPT")
	if rules(node1) != rules(node2) {
		t.Error("two namespaces with one digest were parsed apart")
	}
	faulty := collected("ACCEPT")
	faulty.ReplaceIPTables(text("DROP"))
	if got := rules(faulty); got == rules(node1) || got.Chain(iptables.TableFilter, "INPUT").Policy != "DROP" {
		t.Error("a namespace whose rules were replaced got the parse of its old digest")
	}
	plain := &netstack.Netstack{IPTables: text("ACCEPT")}
	if got := rules(plain); got.Chain(iptables.TableFilter, "INPUT").Policy != "ACCEPT" {
		t.Errorf("a namespace without digests got policy %s", got.Chain(iptables.TableFilter, "INPUT").Policy)
	}
}
