package service

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestDetectMode(t *testing.T) {
	cases := map[string]struct {
		stack *netstack.Netstack
		want  Mode
	}{
		"recorded iptables rules": {nodeA(t, nil), ModeIPTables},
		"ipvs virtual servers":    {nodeAIPVS(t, nil), ModeIPVS},
		"kube-ipvs0 alone": {&netstack.Netstack{Interfaces: []netstack.Interface{{Name: "kube-ipvs0", Kind: "dummy"}},
			IPTables: "*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n"}, ModeIPVS},
		"nftables table ip kube-proxy": {&netstack.Netstack{
			NFTables: `{"nftables":[{"metainfo":{"json_schema_version":1}},{"table":{"family":"ip","name":"kube-proxy","handle":3}}]}`,
			IPTables: "*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n"}, ModeNFTables},
		"nftables without kube-proxy": {&netstack.Netstack{
			NFTables: `{"nftables":[{"table":{"family":"ip","name":"filter","handle":1}}]}`}, ModeNone},
		"no service rules": {&netstack.Netstack{IPTables: "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"}, ModeNone},
		"nil":              {nil, ModeNone},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := DetectMode(c.stack); got != c.want {
				t.Errorf("DetectMode = %s, want %s", got, c.want)
			}
		})
	}
}

func TestOtherModes(t *testing.T) {
	cases := map[string]struct {
		stack *netstack.Netstack
		pkt   model.Packet
		want  got
	}{
		"no kube-proxy: service with endpoints is untranslated": {
			stack: &netstack.Netstack{IPTables: "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"},
			pkt:   pkt(model.TCP, api1, "10.96.0.12", 80),
			want: got{
				Service: "shop/nodeport:80 ClusterIP", Endpoints: "10.244.1.11:8080, 10.244.2.13:8080",
				Branches: []string{"Untranslated 10.96.0.12:80 p=1.00"}, Suspicions: []string{"Critical ServiceRulesMissing"},
			},
		},
		"nftables mode with an empty kube-proxy table: the rules are missing": {
			stack: &netstack.Netstack{NFTables: `{"nftables":[{"table":{"family":"ip","name":"kube-proxy"}}]}`},
			pkt:   pkt(model.TCP, api1, "10.96.0.12", 80),
			want: got{
				Service: "shop/nodeport:80 ClusterIP", Endpoints: "10.244.1.11:8080, 10.244.2.13:8080",
				Branches: []string{"Untranslated 10.96.0.12:80 p=1.00"}, Suspicions: []string{"Critical ServiceRulesMissing"},
			},
		},
		"unreadable nftables ruleset": {
			stack: &netstack.Netstack{NFTables: `{"nftables":[{"table":{"family":"ip","name":"kube-proxy"}}`},
			pkt:   pkt(model.TCP, api1, "10.96.0.12", 80),
			want: got{
				Service:  "shop/nodeport:80 ClusterIP",
				Branches: []string{"Undecided 10.96.0.12:80 p=1.00"}, Suspicions: []string{"Info RuleNotUnderstood"},
			},
		},
		"unreadable iptables text": {
			stack: &netstack.Netstack{IPTables: "*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -m comment --comment \"open\n"},
			pkt:   pkt(model.TCP, api1, "10.96.0.12", 80),
			want: got{
				Service:  "shop/nodeport:80 ClusterIP",
				Branches: []string{"Undecided 10.96.0.12:80 p=1.00"}, Suspicions: []string{"Info RuleNotUnderstood"},
			},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			res, err := New().Process(loadCluster(t, nil), Arrival{Node: "node-a", Stack: c.stack, Packet: c.pkt, Origin: FromPod})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, summarize(res)); diff != "" {
				t.Errorf("result (-want +got):\n%s\ntrace:\n%s", diff, trace(res))
			}
		})
	}
	if _, err := New().Process(loadCluster(t, nil), Arrival{Node: "node-x", Packet: pkt(model.TCP, api1, "10.96.0.12", 80)}); err == nil {
		t.Error("Process without the node's state: no error")
	}
}

// TestChainNames checks the recomputed kube-proxy chain names against the recorded rules.
func TestChainNames(t *testing.T) {
	snap := loadCluster(t, nil)
	svc := snap.Service("shop", "web")
	got := ServiceChains(svc, &svc.Spec.Ports[0])[0]
	if want := "KUBE-SVC-67NZLRHBNDSAWJRO"; got != want {
		t.Errorf("KUBE-SVC chain of shop/web:http = %s, want %s (as recorded)", got, want)
	}
	lb := snap.Service("shop", "local-lb")
	if got, want := ServiceChains(lb, &lb.Spec.Ports[0]), []string{"KUBE-SVC-ESDZIBUWTRCUPPLD", "KUBE-SVL-ESDZIBUWTRCUPPLD", "KUBE-EXT-ESDZIBUWTRCUPPLD", "KUBE-FW-ESDZIBUWTRCUPPLD"}; !cmp.Equal(got, want) {
		t.Errorf("chains of shop/local-lb = %v, want %v", got, want)
	}
	if got, want := EndpointChain(svc, &svc.Spec.Ports[0], mustAddrPort("10.244.2.13:8080")), "KUBE-SEP-D3V65IDS3FFDYZQI"; got != want {
		t.Errorf("KUBE-SEP chain = %s, want %s (as recorded)", got, want)
	}
}
