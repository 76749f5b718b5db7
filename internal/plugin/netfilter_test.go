package plugin

import (
	"strings"
	"testing"

	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/netfilter"
)

// natNode is a namespace with one kube-proxy-like DNAT rule.
func natNode() *netstack.Netstack {
	return &netstack.Netstack{IPTables: "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.10:8080\nCOMMIT\n"}
}

// TestRulesetsParsedOncePerContent checks that namespaces with the same rules share one
// parsed ruleset of each kind, as the nodes of a cluster share kube-proxy's.
func TestRulesetsParsedOncePerContent(t *testing.T) {
	rulesets := NewNetfilterFactory(netfilter.NewCache(netfilter.DefaultCacheSize))
	nft := `{"nftables": [{"table": {"family": "ip", "name": "kube-proxy"}}, {"chain": {"family": "ip", "table": "kube-proxy", "name": "nat-prerouting", "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}}]}`
	var got []*netfilter.Rules
	for range 2 {
		stack := natNode()
		stack.NFTables = nft
		nf, err := rulesets(stack)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, nf.(*netfilter.Rules))
	}
	if got[0].NFTables != got[1].NFTables || got[0].IPTables != got[1].IPTables {
		t.Error("the same texts were parsed twice")
	}
	other := natNode()
	other.NFTables = strings.Replace(nft, "kube-proxy", "other", 2)
	nf, err := rulesets(other)
	if err != nil {
		t.Fatal(err)
	}
	if nf.(*netfilter.Rules).NFTables == got[0].NFTables {
		t.Error("another text got the cached ruleset")
	}
}
