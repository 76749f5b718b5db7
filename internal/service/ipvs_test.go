package service

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

// nodeAIPVS is node-a in ipvs mode, from the hand-written testdata/ipvs fixture.
func nodeAIPVS(t testing.TB, edit func(*netstack.Netstack)) *netstack.Netstack {
	t.Helper()
	b := readFixture(t, filepath.Join("testdata", "ipvs", "node-a.json"))
	var ns netstack.Netstack
	if err := json.Unmarshal(b, &ns); err != nil {
		t.Fatalf("parse ipvs fixture: %v", err)
	}
	if edit != nil {
		edit(&ns)
	}
	return &ns
}

func TestIPVS(t *testing.T) {
	cases := map[string]struct {
		origin   Origin
		pkt      model.Packet
		stack    func(*netstack.Netstack)
		objects  func(*cluster.Snapshot)
		want     got
		wantRule string
	}{
		"cluster IP over weighted real servers, draining one left out": {
			origin: FromPod, pkt: pkt(model.TCP, api1, "10.96.0.10", 80),
			want: got{
				Service:   webHTTP,
				Endpoints: webHTTPEndpoints,
				Branches:  webHTTPBranches("Translated 10.244.2.13:8080 p=0.33 pod=web-3"),
			},
			wantRule: "ipvs: -a -t 10.96.0.10:80 -r 10.244.1.11:8080 -m -w 1",
		},
		"UDP": {
			origin: FromPod, pkt: pkt(model.UDP, api1, "10.96.0.53", 53),
			want: got{
				Service:   "shop/dns:dns ClusterIP",
				Endpoints: "10.244.1.31:5353, 10.244.2.32:5353",
				Branches: []string{
					"Translated 10.244.1.31:5353 p=0.50 pod=dns-1 local",
					"Translated 10.244.2.32:5353 p=0.50 pod=dns-2",
				},
			},
		},
		"node port": {
			origin: FromOutside, pkt: pkt(model.TCP, outsideIP, nodeAIP, 30080),
			want: got{
				Service:   "shop/nodeport:80 NodePort",
				Endpoints: "10.244.1.11:8080, 10.244.2.13:8080",
				Branches: []string{
					"Translated 10.244.1.11:8080 p=0.50 pod=web-1 local",
					"Translated 10.244.2.13:8080 p=0.50 pod=web-3",
				},
			},
		},
		"virtual server without real servers": {
			origin: FromPod, pkt: pkt(model.TCP, api1, "10.96.0.11", 80),
			want: got{
				Service:    "shop/empty:80 ClusterIP",
				Branches:   []string{"Dropped 10.96.0.11:80 p=1.00"},
				Suspicions: []string{"Critical ServiceNoEndpoints"},
			},
			wantRule: "ipvs: -A -t 10.96.0.11:80 -s rr",
		},
		"service address missing from kube-ipvs0": {
			origin: FromPod, pkt: pkt(model.TCP, api1, "10.96.0.10", 80),
			stack: func(ns *netstack.Netstack) {
				ifc := &ns.Interfaces[2]
				ifc.Addresses = ifc.Addresses[:1]
			},
			want: got{
				Service:    webHTTP,
				Endpoints:  webHTTPEndpoints,
				Branches:   []string{"Untranslated 10.96.0.10:80 p=1.00"},
				Suspicions: []string{"Critical ServiceRulesMissing"},
			},
		},
		"no virtual server for a service with endpoints": {
			origin: FromPod, pkt: pkt(model.TCP, api1, "10.96.0.15", 80),
			want: got{
				Service:    "shop/sticky:80 ClusterIP",
				Endpoints:  "10.244.1.12:8080, 10.244.2.13:8080",
				Branches:   []string{"Untranslated 10.96.0.15:80 p=1.00"},
				Suspicions: []string{"Critical ServiceRulesMissing"},
			},
		},
		"real server the slices no longer list": {
			origin: FromPod, pkt: pkt(model.TCP, web2, "10.96.0.16", 8000),
			stack: func(ns *netstack.Netstack) {
				for i := range ns.IPVS {
					if ns.IPVS[i].Address.String() == "10.96.0.16:8000" {
						ns.IPVS[i].Destinations = append(ns.IPVS[i].Destinations, netstack.IPVSDestination{
							Address: mustAddrPort("10.244.2.77:8081"), Weight: 1, Forward: "masq"})
					}
				}
			},
			want: got{
				Service:   "shop/api:8000 ClusterIP",
				Endpoints: "10.244.1.41:8081",
				Branches: []string{
					"Translated 10.244.1.41:8081 p=0.50 pod=api-1 local",
					"Translated 10.244.2.77:8081 p=0.50",
				},
				Suspicions: []string{"Critical ServiceEndpointStale"},
			},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			checkProcess(t, loadCluster(t, c.objects), nodeAIPVS(t, c.stack), ModeIPVS, c.origin, c.pkt, c.want, c.wantRule, "")
		})
	}
}
