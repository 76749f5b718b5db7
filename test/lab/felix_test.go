package lab

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestBIRDConfig holds the shape of a node's BIRD configuration: its block exported to each
// peer of the mesh and kept as a local blackhole, no session to itself.
func TestBIRDConfig(t *testing.T) {
	nodes := []*Node{
		{Name: "node-1", IP: nodeIP(1), PodCIDR: netip.MustParsePrefix("10.244.0.0/24")},
		{Name: "node-2", IP: nodeIP(2), PodCIDR: netip.MustParsePrefix("10.244.1.0/24")},
		{Name: "node-3", IP: nodeIP(3), PodCIDR: netip.MustParsePrefix("10.244.2.0/24")},
	}
	conf := birdConfig(nodes[1], nodes)
	for _, want := range []string{
		"router id 172.18.1.2;",
		"route 10.244.1.0/24 blackhole;",
		"neighbor 172.18.1.1 as 64512;",
		"neighbor 172.18.1.3 as 64512;",
		`export where proto = "local_block";`,
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("BIRD config of node-2 lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "neighbor 172.18.1.2 ") {
		t.Errorf("BIRD config of node-2 peers with itself:\n%s", conf)
	}
}

// TestFelix brings the calico modes up with real felix, in both of its dataplanes, and shows
// that felix (and BIRD in routed mode) programmed the pods' routes and chains: the data plane
// works, each pod has felix's cali-tw- chain, peer blocks are routed by BGP or through
// vxlan.calico, and a Calico NetworkPolicy becomes a cali-pi- chain that drops real packets.
func TestFelix(t *testing.T) {
	for name, cfg := range map[string]Config{
		"routed, felix iptables": {Name: "ndlabf", Mode: ModeCalicoRouted, ProxyMode: ProxyIPTables, FelixDataplane: FelixIPTables},
		"vxlan, felix nftables":  {Name: "ndlabf", Mode: ModeCalicoVXLAN, ProxyMode: ProxyNFTables, FelixDataplane: FelixNFTables},
	} {
		t.Run(name, func(t *testing.T) {
			l := upForTest(t, cfg.Name, cfg.Mode, cfg.ProxyMode, func(c *Config) { c.FelixDataplane = cfg.FelixDataplane })
			pods, svc := shop(t, l)
			probeAll(t, dataPlaneCases(t, l, pods, svc))
			ctx := t.Context()
			n1, n2 := l.Nodes()[0], l.Nodes()[1]
			db := pods[1]
			veth := calicoVethName(db.Namespace, db.Name)

			rules := felixRules(t, l, n2)
			if !strings.Contains(rules, "cali-tw-"+veth) {
				t.Errorf("felix on %s has no cali-tw-%s chain for pod %s:\n%s", n2.Name, veth, db.Name, rules)
			}
			out, err := l.Exec(ctx, n2.Netns, "ip", "route", "show", db.Status.PodIP)
			if err != nil || !strings.Contains(string(out), "dev "+veth) {
				t.Errorf("route to pod %s on %s: %v\n%s", db.Name, n2.Name, err, out)
			}
			peer := n2.PodCIDR.Masked().String()
			out, err = l.Exec(ctx, n1.Netns, "ip", "route", "show", peer)
			want := []string{"via " + n2.IP.String(), "proto bird"}
			if cfg.Mode == ModeCalicoVXLAN {
				want = []string{"via " + calicoTunnelIP(&n2).String(), "dev vxlan.calico"}
			}
			if err != nil || !containsAll(string(out), want...) {
				t.Errorf("route to %s's block %s on %s: %v\n%s, want %q", n2.Name, peer, n1.Name, err, out, want)
			}

			// A Calico policy denying ingress to the web pods: felix programs it and real
			// packets stop.
			dyn, err := l.Dynamic()
			if err != nil {
				t.Fatal(err)
			}
			np := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "crd.projectcalico.org/v1", "kind": "NetworkPolicy",
				"metadata": map[string]any{"name": "deny-web", "namespace": "shop"},
				"spec": map[string]any{
					"selector": "app == 'web'", "types": []any{"Ingress"}, "order": 10,
					"ingress": []any{map[string]any{"action": "Deny"}},
				},
			}}
			if _, err := dyn.Resource(calicoGVR("networkpolicies")).Namespace("shop").Create(ctx, np, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create Calico NetworkPolicy: %v", err)
			}
			src, _ := l.PodNetns("shop", pods[0].Name)
			spec := ProbeSpec{From: src, To: netip.AddrPortFrom(netip.MustParseAddr(db.Status.PodIP), 8080), Protocol: TCP, Timeout: time.Second}
			wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			err = waitFor(wctx, "the policy to drop", 200*time.Millisecond, func(ctx context.Context) (bool, error) {
				return !Probe(ctx, spec).Reachable, nil
			})
			if err != nil {
				t.Errorf("pod to pod with a Calico policy denying ingress: %v", err)
			}
			if rules := felixRules(t, l, n2); !strings.Contains(rules, "cali-pi-") {
				t.Errorf("felix on %s has no cali-pi- chain for the policy:\n%s", n2.Name, rules)
			}
		})
	}
}

func felixRules(t *testing.T, l *Lab, n Node) string {
	t.Helper()
	argv := []string{"iptables-save"}
	if l.cfg.FelixDataplane == FelixNFTables {
		argv = []string{"nft", "list", "ruleset"}
	}
	out, err := l.Exec(t.Context(), n.Netns, argv...)
	if err != nil {
		t.Fatalf("%s on %s: %v", argv[0], n.Name, err)
	}
	return string(out)
}
