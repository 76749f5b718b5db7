package collector

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
	"testing"

	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/transport"
)

// kubeProxyRules writes an iptables-restore input shaped as kube-proxy's iptables mode writes
// it: per service a KUBE-SERVICES match, a KUBE-SVC chain spreading over two endpoints with
// statistic rules, and per endpoint a KUBE-SEP chain that marks and DNATs. Seven rules a
// service; it stops at rules rules.
func kubeProxyRules(rules int) string {
	chain := func(prefix, key string) string {
		h := sha256.Sum256([]byte(key))
		return prefix + base32.StdEncoding.EncodeToString(h[:])[:16]
	}
	var decl, body strings.Builder
	decl.WriteString("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n")
	decl.WriteString(":KUBE-SERVICES - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-POSTROUTING - [0:0]\n")
	body.WriteString("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n")
	body.WriteString("-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n")
	body.WriteString("-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n")
	n := 3
	for i := 0; n+7 <= rules; i++ {
		svc := fmt.Sprintf("ns-%d/svc-%d:http", i%100, i)
		clusterIP := fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)
		svcChain := chain("KUBE-SVC-", svc)
		fmt.Fprintf(&decl, ":%s - [0:0]\n", svcChain)
		fmt.Fprintf(&body, "-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment \"%s cluster IP\" -m tcp --dport 80 -j %s\n", clusterIP, svc, svcChain)
		for e := range 2 {
			ep := fmt.Sprintf("10.%d.%d.%d", 128+e, i/250, i%250+1)
			sep := chain("KUBE-SEP-", svc+ep)
			fmt.Fprintf(&decl, ":%s - [0:0]\n", sep)
			if e == 0 {
				fmt.Fprintf(&body, "-A %s -m comment --comment \"%s -> %s:8080\" -m statistic --mode random --probability 0.50000000000 -j %s\n", svcChain, svc, ep, sep)
			} else {
				fmt.Fprintf(&body, "-A %s -m comment --comment \"%s -> %s:8080\" -j %s\n", svcChain, svc, ep, sep)
			}
			fmt.Fprintf(&body, "-A %s -s %s/32 -m comment --comment \"%s\" -j KUBE-MARK-MASQ\n", sep, ep, svc)
			fmt.Fprintf(&body, "-A %s -p tcp -m comment --comment \"%s\" -m tcp -j DNAT --to-destination %s:8080\n", sep, svc, ep)
		}
		n += 7
	}
	return decl.String() + body.String() + "COMMIT\n"
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
