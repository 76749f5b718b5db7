package collector

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/netdiag/netdiag/internal/fixture/ruleset"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/transport"
)

// kubeProxyRules writes an iptables-restore input of about rules rules, as kube-proxy's
// iptables mode writes them for the numbered services (ruleset.Numbered) with two endpoints
// each.
func kubeProxyRules(rules int) string {
	t := ruleset.NewTables()
	svcs := ruleset.Fill(rules, func(i int) ruleset.Service { return ruleset.Numbered(i, 2, false) })
	ruleset.KubeProxy(t, svcs, ruleset.Node{ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16")})
	return t.SaveByChain(nil)
}

// BenchmarkCollectLargeRuleset collects a node namespace holding 100,000 iptables rules, as
// a node of a large cluster has, and reports the compressed size the API server receives.
func BenchmarkCollectLargeRuleset(b *testing.B) {
	requireRoot(b)
	name, path := newNetNS(b, "bench")
	nsExecStdin(b, name, strings.NewReader(kubeProxyRules(100_000)), "iptables-restore")
	var snap *netstack.NodeSnapshot
	for b.Loop() {
		ns := CollectNetstack(b.Context(), path, "/proc")
		snap = &netstack.NodeSnapshot{Version: netstack.Version, Node: "big", Host: ns}
	}
	if got := strings.Count(snap.Host.IPTables, "\n[0:0] -A "); got != 100_000-2 && got != 100_000 {
		b.Logf("collected %d rules", got)
	}
	cms, err := transport.Encode(snap, "ns", "p", "uid")
	if err != nil {
		b.Fatal(err)
	}
	size := 0
	for _, cm := range cms {
		for _, v := range cm.BinaryData {
			size += len(v)
		}
	}
	b.ReportMetric(float64(size), "compressed-bytes")
	b.ReportMetric(float64(len(snap.Host.IPTables)), "iptables-bytes")
	b.ReportMetric(float64(len(cms)), "configmaps")
	b.ReportMetric(float64(strings.Count(snap.Host.IPTables, "-A ")), "rules")
}
