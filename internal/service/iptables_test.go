package service

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

// Addresses of the recorded cluster (see record_test.go).
const (
	nodeAIP   = "172.18.0.2"
	outsideIP = "198.51.100.7" // a client outside the cluster
	api1      = "10.244.1.41"  // a pod on node-a
	web2      = "10.244.1.12"  // a pod on node-a, endpoint of web and ext
)

// got is the part of a Result a test compares: each branch in a line, and the suspicions.
type got struct {
	Service    string
	Endpoints  string
	Branches   []string
	Suspicions []string
}

func summarize(res *Result) got {
	g := got{Endpoints: joinAddrPorts(res.Endpoints)}
	if res.Service != nil {
		g.Service = res.Service.Namespace + "/" + res.Service.Name
		if res.Port != nil {
			g.Service += ":" + portLabel(res.Port) + " " + string(res.Kind)
		}
	}
	for _, b := range res.Branches {
		s := fmt.Sprintf("%s %s:%d p=%.2f", b.Outcome, b.Packet.Dst, b.Packet.DstPort, math.Round(b.Probability*100)/100)
		if b.Endpoint.Type == model.EndpointPod {
			s += " pod=" + b.Endpoint.Name
		}
		if b.Local {
			s += " local"
		}
		if b.Masquerade {
			s += " masq"
		}
		if b.Hairpin {
			s += " hairpin"
		}
		if b.Pinned {
			s += " pinned"
		}
		g.Branches = append(g.Branches, s)
	}
	for _, s := range res.AllSuspicions() {
		g.Suspicions = append(g.Suspicions, s.Level.String()+" "+string(s.Reason))
	}
	return g
}

func trace(res *Result) string {
	var b strings.Builder
	for _, br := range res.Branches {
		fmt.Fprintf(&b, "branch %s p=%.3f %s\n", br.Outcome, br.Probability, br.Packet)
		for _, r := range br.Rules {
			fmt.Fprintf(&b, "    %s\n", r)
		}
	}
	for _, s := range res.AllSuspicions() {
		fmt.Fprintf(&b, "suspicion %s %s: %s [%s]\n", s.Level, s.Reason, s.Message, s.Rule)
	}
	return b.String()
}

func pkt(proto model.Protocol, src, dst string, dport uint16) model.Packet {
	return model.Packet{Protocol: proto, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SrcPort: 40000, DstPort: dport}
}

func TestIPTablesRecorded(t *testing.T) {
	type tc struct {
		origin     Origin
		pkt        model.Packet
		rules      func(string) string
		objects    func(*cluster.Snapshot)
		recent     []netstack.RecentEntry // the node's recent-match lists
		want       got
		wantRule   string // a substring of the deciding rule of the first branch
		wantDetail string // a substring of some step's detail or action
	}
	cases := map[string]tc{
		"cluster IP with three ready endpoints, terminating one left out": {
			origin: FromPod, pkt: pkt(model.TCP, api1, "10.96.0.10", 80),
			want: got{
				Service:   webHTTP,
				Endpoints: webHTTPEndpoints,
				Branches:  webHTTPBranches("Translated 10.244.2.13:8080 p=0.33 pod=web-3"),
			},
			wantRule: `-j DNAT --to-destination 10.244.1.11:8080`,
		},
		"second port of a multi-port service from the host is masqueraded": {
			origin: FromHost, pkt: pkt(model.TCP, nodeAIP, "10.96.0.10", 443),
			want: got{
				Service:   "shop/web:https ClusterIP",
				Endpoints: "10.244.1.11:8443, 10.244.1.12:8443, 10.244.2.13:8443",
				Branches: []string{
					"Translated 10.244.1.11:8443 p=0.33 pod=web-1 local masq",
					"Translated 10.244.1.12:8443 p=0.33 pod=web-2 local masq",
					"Translated 10.244.2.13:8443 p=0.33 pod=web-3 masq",
				},
			},
		},
		"port that is not a port of the service": {
			origin: FromPod, pkt: pkt(model.TCP, api1, "10.96.0.10", 8080),
			want: got{
				Service:    "shop/web",
				Branches:   []string{"Untranslated 10.96.0.10:8080 p=1.00"},
				Suspicions: []string{"Critical ServicePortMissing"},
			},
		},
		"service without endpoints is rejected": {
			origin: FromPod, pkt: pkt(model.TCP, api1, "10.96.0.11", 80),
			want: got{
				Service:    "shop/empty:80 ClusterIP",
				Branches:   []string{"Rejected 10.96.0.11:80 p=1.00"},
				Suspicions: []string{"Critical ServiceNoEndpoints"},
			},
			wantRule: `"shop/empty has no endpoints"`,
		},
		"node port from outside": {
			origin: FromOutside, pkt: pkt(model.TCP, outsideIP, nodeAIP, 30080),
			want: got{
				Service:   "shop/nodeport:80 NodePort",
				Endpoints: "10.244.1.11:8080, 10.244.2.13:8080",
				Branches: []string{
					"Translated 10.244.1.11:8080 p=0.50 pod=web-1 local masq",
					"Translated 10.244.2.13:8080 p=0.50 pod=web-3 masq",
				},
			},
		},
		"node port on localhost from the host": {
			origin: FromHost, pkt: pkt(model.TCP, "127.0.0.1", "127.0.0.1", 30080),
			want: got{
				Service:   "shop/nodeport:80 NodePort",
				Endpoints: "10.244.1.11:8080, 10.244.2.13:8080",
				Branches: []string{
					"Translated 10.244.1.11:8080 p=0.50 pod=web-1 local masq",
					"Translated 10.244.2.13:8080 p=0.50 pod=web-3 masq",
				},
			},
		},
		"externalTrafficPolicy Local node port without a local endpoint drops outside traffic": {
			origin: FromOutside, pkt: pkt(model.TCP, outsideIP, nodeAIP, 30081),
			want: got{
				Service:    "shop/local-np:5432 NodePort",
				Branches:   []string{"Dropped 172.18.0.2:30081 p=1.00"},
				Suspicions: []string{"Critical ServiceLocalNoEndpoints"},
			},
			wantRule: `"shop/local-np has no local endpoints"`,
		},
		"externalTrafficPolicy Local node port from a local pod is short-circuited to every endpoint": {
			origin: FromPod, pkt: pkt(model.TCP, api1, nodeAIP, 30081),
			want: got{
				Service:   "shop/local-np:5432 NodePort",
				Endpoints: "10.244.2.21:5432",
				Branches:  []string{"Translated 10.244.2.21:5432 p=1.00 pod=db-1"},
			},
		},
		"load-balancer IP with Local policy keeps the client address and stays on the node": {
			origin: FromOutside, pkt: pkt(model.TCP, outsideIP, "203.0.113.10", 80),
			want: got{
				Service:   "shop/local-lb:80 LoadBalancerIP",
				Endpoints: "10.244.1.11:8080",
				Branches:  []string{"Translated 10.244.1.11:8080 p=1.00 pod=web-1 local"},
			},
		},
		"session affinity balances a new client and explains the affinity": {
			origin: FromPod, pkt: pkt(model.TCP, api1, "10.96.0.15", 80),
			want: got{
				Service:   "shop/sticky:80 ClusterIP",
				Endpoints: "10.244.1.12:8080, 10.244.2.13:8080",
				Branches: []string{
					"Translated 10.244.1.12:8080 p=0.50 pod=web-2 local",
					"Translated 10.244.2.13:8080 p=0.50 pod=web-3",
				},
			},
			wantDetail: "within the last 10800s",
		},
		"session affinity keeps a client seen 90s ago on its endpoint, and no other endpoint's rule is missed": {
			origin: FromPod, pkt: pkt(model.TCP, api1, "10.96.0.15", 80),
			recent: []netstack.RecentEntry{{List: "KUBE-SEP-YAFQTTHKQOPZPZ42", Addr: netip.MustParseAddr(api1), SeenSecondsAgo: 90}},
			want: got{
				Service:    "shop/sticky:80 ClusterIP",
				Endpoints:  "10.244.1.12:8080, 10.244.2.13:8080",
				Branches:   []string{"Translated 10.244.2.13:8080 p=1.00 pod=web-3 pinned"},
				Suspicions: []string{"Info ServiceAffinityPinned"},
			},
			wantRule:   "DNAT --to-destination 10.244.2.13:8080",
			wantDetail: "connected to it 90s before the collection",
		},
		"session affinity has forgotten a client seen longer ago than its timeout": {
			origin: FromPod, pkt: pkt(model.TCP, api1, "10.96.0.15", 80),
			recent: []netstack.RecentEntry{{List: "KUBE-SEP-YAFQTTHKQOPZPZ42", Addr: netip.MustParseAddr(api1), SeenSecondsAgo: 10801}},
			want: got{
				Service:   "shop/sticky:80 ClusterIP",
				Endpoints: "10.244.1.12:8080, 10.244.2.13:8080",
				Branches: []string{
					"Translated 10.244.1.12:8080 p=0.50 pod=web-2 local",
					"Translated 10.244.2.13:8080 p=0.50 pod=web-3",
				},
			},
		},
		"session affinity pins another client only": {
			origin: FromPod, pkt: pkt(model.TCP, web2, "10.96.0.15", 80),
			recent: []netstack.RecentEntry{{List: "KUBE-SEP-YAFQTTHKQOPZPZ42", Addr: netip.MustParseAddr(api1), SeenSecondsAgo: 90}},
			want: got{
				Service:   "shop/sticky:80 ClusterIP",
				Endpoints: "10.244.1.12:8080, 10.244.2.13:8080",
				Branches: []string{
					"Translated 10.244.1.12:8080 p=0.50 pod=web-2 local masq hairpin",
					"Translated 10.244.2.13:8080 p=0.50 pod=web-3",
				},
			},
		},
		"UDP service": {
			origin: FromPod, pkt: pkt(model.UDP, api1, "10.96.0.53", 53),
			want: got{
				Service:   "shop/dns:dns ClusterIP",
				Endpoints: "10.244.1.31:5353, 10.244.2.32:5353",
				Branches: []string{
					"Translated 10.244.1.31:5353 p=0.50 pod=dns-1 local",
					"Translated 10.244.2.32:5353 p=0.50 pod=dns-2",
				},
			},
			wantRule: "-p udp",
		},
		"named targetPort": {
			origin: FromPod, pkt: pkt(model.TCP, web2, "10.96.0.16", 8000),
			want: got{
				Service:   "shop/api:8000 ClusterIP",
				Endpoints: "10.244.1.41:8081",
				Branches:  []string{"Translated 10.244.1.41:8081 p=1.00 pod=api-1 local"},
			},
			wantDetail: `targetPort "http-api" resolves to port 8081`,
		},
		"internalTrafficPolicy Local without a local endpoint": {
			origin: FromPod, pkt: pkt(model.TCP, api1, "10.96.0.17", 5432),
			want: got{
				Service:    "shop/internal-local:5432 ClusterIP",
				Branches:   []string{"Dropped 10.96.0.17:5432 p=1.00"},
				Suspicions: []string{"Critical ServiceLocalNoEndpoints"},
			},
			wantRule: `"shop/internal-local has no local endpoints"`,
		},
		"external IP from outside": {
			origin: FromOutside, pkt: pkt(model.TCP, outsideIP, "192.0.2.10", 80),
			want: got{
				Service:   "shop/ext:80 ExternalIP",
				Endpoints: "10.244.1.12:8080",
				Branches:  []string{"Translated 10.244.1.12:8080 p=1.00 pod=web-2 local masq"},
			},
		},
		"hairpin: a pod reaching itself through its service is masqueraded": {
			origin: FromPod, pkt: pkt(model.TCP, web2, "10.96.0.18", 80),
			want: got{
				Service:   "shop/ext:80 ClusterIP",
				Endpoints: "10.244.1.12:8080",
				Branches:  []string{"Translated 10.244.1.12:8080 p=1.00 pod=web-2 local masq hairpin"},
			},
			wantDetail: "the endpoint is the client itself",
		},
		"a pod address is no service": {
			origin: FromPod, pkt: pkt(model.TCP, api1, "10.244.2.13", 8080),
			want: got{Branches: []string{"Untranslated 10.244.2.13:8080 p=1.00"}},
		},

		// Faults made by editing the recorded rules or objects.
		"rules of a service removed: kube-proxy not synced": {
			origin: FromPod, pkt: pkt(model.TCP, api1, "10.96.0.10", 80),
			rules: func(s string) string { return dropLines(s, "shop/web:http", "KUBE-SVC-67NZLRHBNDSAWJRO") },
			want: got{
				Service:    webHTTP,
				Endpoints:  webHTTPEndpoints,
				Branches:   []string{"Untranslated 10.96.0.10:80 p=1.00"},
				Suspicions: []string{"Critical ServiceRulesMissing"},
			},
		},
		"endpoint rule left stale": {
			origin: FromPod, pkt: pkt(model.TCP, api1, "10.96.0.10", 80),
			rules: func(s string) string {
				return strings.Replace(s, `"shop/web:http" -m tcp -j DNAT --to-destination 10.244.2.13:8080`, `"shop/web:http" -m tcp -j DNAT --to-destination 10.244.2.99:8080`, 1)
			},
			want: got{
				Service:    webHTTP,
				Endpoints:  webHTTPEndpoints,
				Branches:   webHTTPBranches("Translated 10.244.2.99:8080 p=0.33"),
				Suspicions: []string{"Warning ServiceRulesMissing", "Critical ServiceEndpointStale"},
			},
		},
		"endpoint gone from the slice but still in the rules": {
			origin: FromPod, pkt: pkt(model.TCP, api1, "10.96.0.10", 80),
			objects: func(s *cluster.Snapshot) {
				es := slice(s, "web")
				es.Endpoints = es.Endpoints[:2]
			},
			want: got{
				Service:    webHTTP,
				Endpoints:  "10.244.1.11:8080, 10.244.1.12:8080",
				Branches:   webHTTPBranches("Translated 10.244.2.13:8080 p=0.33 pod=web-3"),
				Suspicions: []string{"Critical ServiceEndpointStale"},
			},
		},
		"endpoint turned not ready but still in the rules": {
			origin: FromPod, pkt: pkt(model.TCP, api1, "10.96.0.10", 80),
			objects: func(s *cluster.Snapshot) {
				slice(s, "web").Endpoints[2].Conditions.Ready = ptr.To(false)
			},
			want: got{
				Service:    webHTTP,
				Endpoints:  "10.244.1.11:8080, 10.244.1.12:8080",
				Branches:   webHTTPBranches("Translated 10.244.2.13:8080 p=0.33 pod=web-3"),
				Suspicions: []string{"Warning ServiceEndpointStale"},
			},
		},
		"only terminating endpoints left: kube-proxy falls back to serving ones": {
			origin: FromPod, pkt: pkt(model.TCP, api1, "10.96.0.10", 80),
			objects: func(s *cluster.Snapshot) {
				es := slice(s, "web")
				for i := range 3 {
					es.Endpoints[i].Conditions.Ready = ptr.To(false)
					es.Endpoints[i].Conditions.Serving = ptr.To(false)
				}
			},
			want: got{
				Service:    webHTTP,
				Endpoints:  "10.244.2.14:8080",
				Branches:   webHTTPBranches("Translated 10.244.2.13:8080 p=0.33 pod=web-3"),
				Suspicions: []string{"Warning ServiceRulesMissing", "Warning ServiceEndpointStale", "Warning ServiceEndpointStale", "Warning ServiceEndpointStale"},
			},
		},
		"service still rejected after endpoints appeared": {
			origin: FromPod, pkt: pkt(model.TCP, api1, "10.96.0.11", 80),
			objects: func(s *cluster.Snapshot) {
				slice(s, "empty").Endpoints = []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.11"}, NodeName: ptr.To("node-a")}}
			},
			want: got{
				Service:    "shop/empty:80 ClusterIP",
				Endpoints:  "10.244.1.11:8080",
				Branches:   []string{"Rejected 10.96.0.11:80 p=1.00"},
				Suspicions: []string{"Critical ServiceRulesMissing"},
			},
		},
		"named targetPort that no container port has": {
			origin: FromPod, pkt: pkt(model.TCP, web2, "10.96.0.16", 8000),
			rules: func(s string) string {
				s = dropLines(s, `"shop/api`, "KUBE-SVC-YI7FANR2652WTB3A", "KUBE-SEP-YY75RXF77DTVS2BB")
				return insertAfter(s, ":KUBE-SERVICES - [0:0]", `[0:0] -A KUBE-SERVICES -d 10.96.0.16/32 -p tcp -m comment --comment "shop/api has no endpoints" -m tcp --dport 8000 -j REJECT --reject-with icmp-port-unreachable`)
			},
			objects: func(s *cluster.Snapshot) {
				es := slice(s, "api")
				es.Ports, es.Endpoints = nil, nil
			},
			want: got{
				Service:    "shop/api:8000 ClusterIP",
				Branches:   []string{"Rejected 10.96.0.16:8000 p=1.00"},
				Suspicions: []string{"Critical ServiceNoEndpoints"},
			},
			wantDetail: `targetPort "http-api" is not the name of a container port`,
		},
		"a rule that is not kube-proxy's drops one endpoint": {
			origin: FromPod, pkt: pkt(model.TCP, api1, "10.96.0.10", 80),
			rules: func(s string) string {
				return insertAfter(s, ":KUBE-SERVICES - [0:0]", "[0:0] -A FORWARD -d 10.244.2.13/32 -p tcp -j DROP")
			},
			want: got{
				Service:    webHTTP,
				Endpoints:  webHTTPEndpoints,
				Branches:   webHTTPBranches("Dropped 10.244.2.13:8080 p=0.33 pod=web-3"),
				Suspicions: []string{"Critical IPTablesDrop"},
			},
		},
		"a match that is not understood leaves the branch undecided": {
			origin: FromPod, pkt: pkt(model.TCP, api1, "10.96.0.10", 80),
			rules: func(s string) string {
				return strings.Replace(s, `"shop/web:http -> 10.244.1.11:8080" -m statistic --mode random --probability 0.33333333349`, `"shop/web:http -> 10.244.1.11:8080" -m cpu --cpu 0`, 1)
			},
			want: got{
				Service:    webHTTP,
				Endpoints:  webHTTPEndpoints,
				Branches:   []string{"Undecided 10.96.0.10:80 p=1.00"},
				Suspicions: []string{"Info RuleNotUnderstood"},
			},
		},
		"a client pinned to an endpoint that a rule drops fails every time": {
			origin: FromPod, pkt: pkt(model.TCP, api1, "10.96.0.15", 80),
			recent: []netstack.RecentEntry{{List: "KUBE-SEP-YAFQTTHKQOPZPZ42", Addr: netip.MustParseAddr(api1), SeenSecondsAgo: 90}},
			rules: func(s string) string {
				return insertAfter(s, ":KUBE-SERVICES - [0:0]", "[0:0] -A FORWARD -d 10.244.2.13/32 -p tcp -j DROP")
			},
			want: got{
				Service:    "shop/sticky:80 ClusterIP",
				Endpoints:  "10.244.1.12:8080, 10.244.2.13:8080",
				Branches:   []string{"Dropped 10.244.2.13:8080 p=1.00 pod=web-3 pinned"},
				Suspicions: []string{"Info ServiceAffinityPinned", "Critical IPTablesDrop"},
			},
		},
		"hairpin without masquerade": {
			origin: FromPod, pkt: pkt(model.TCP, web2, "10.96.0.18", 80),
			rules: func(s string) string {
				return dropLines(s, `-A KUBE-SEP-XMXXTWUZIINJRKHH -s 10.244.1.12/32`)
			},
			want: got{
				Service:    "shop/ext:80 ClusterIP",
				Endpoints:  "10.244.1.12:8080",
				Branches:   []string{"Translated 10.244.1.12:8080 p=1.00 pod=web-2 local hairpin"},
				Suspicions: []string{"Warning ServiceHairpinNoMasquerade"},
			},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			stack := nodeA(t, c.rules)
			stack.Recent = c.recent
			checkProcess(t, loadCluster(t, c.objects), stack, ModeIPTables, c.origin, c.pkt, c.want, c.wantRule, c.wantDetail)
		})
	}
}

func explained(res *Result, s string) bool {
	for _, b := range res.Branches {
		for _, st := range b.Steps {
			if strings.Contains(st.Detail, s) || strings.Contains(st.Action, s) {
				return true
			}
		}
	}
	for _, su := range res.AllSuspicions() {
		if strings.Contains(su.Message, s) {
			return true
		}
	}
	return false
}
