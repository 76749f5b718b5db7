package service

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/kubeproxytest"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

// The nftables fixture is kube-proxy's ruleset in nftables mode, recorded from the real
// kube-proxy by internal/netstack/iptables/record_test.go; nftCluster holds the objects that
// recording created (its recServices and recPods).
const nftFixture = "../netstack/iptables/testdata/kube-proxy.nft.json"

func nftCluster(edit func(*cluster.Snapshot)) *cluster.Snapshot {
	snap := &cluster.Snapshot{Namespaces: []corev1.Namespace{*kubeproxytest.NamespaceObject()}}
	for _, n := range kubeproxytest.Nodes() {
		snap.Nodes = append(snap.Nodes, *n)
	}
	pods := map[string]kubeproxytest.Pod{}
	for _, p := range []kubeproxytest.Pod{
		{Name: "api-1", Node: "node-a", IP: "10.244.1.41"}, {Name: "db-1", Node: "node-b", IP: "10.244.2.21"},
		{Name: "dns-1", Node: "node-a", IP: "10.244.1.31"}, {Name: "dns-2", Node: "node-b", IP: "10.244.2.32"},
		{Name: "web-1", Node: "node-a", IP: "10.244.1.11"}, {Name: "web-2", Node: "node-a", IP: "10.244.1.12"},
		{Name: "web-3", Node: "node-b", IP: "10.244.2.13"},
	} {
		pods[p.Name] = p
		snap.Pods = append(snap.Pods, *kubeproxytest.PodObject(p))
	}
	tcpPort := func(name string, port, target int32) corev1.ServicePort {
		return kubeproxytest.TCP(name, port, intstr.FromInt32(target))
	}
	type svcDef struct {
		name, ip  string
		typ       corev1.ServiceType
		local     bool
		affinity  bool
		ports     []corev1.ServicePort
		external  []string
		lb        string
		endpoints []string
	}
	for _, d := range []svcDef{
		{name: "web", ip: "10.96.0.10", ports: []corev1.ServicePort{tcpPort("http", 80, 8080), tcpPort("https", 443, 8443)}, endpoints: []string{"web-1", "web-2", "web-3"}},
		{name: "empty", ip: "10.96.0.11", ports: []corev1.ServicePort{tcpPort("", 80, 8080)}},
		{name: "np", ip: "10.96.0.12", typ: corev1.ServiceTypeNodePort, ports: []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080}}, endpoints: []string{"web-1", "web-3"}},
		{name: "sticky", ip: "10.96.0.15", affinity: true, ports: []corev1.ServicePort{tcpPort("", 80, 8080)}, endpoints: []string{"web-2", "web-3"}},
		{name: "dns", ip: "10.96.0.53", ports: []corev1.ServicePort{{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(5353)}, tcpPort("dns-tcp", 53, 5353)}, endpoints: []string{"dns-1", "dns-2"}},
		{name: "ext", ip: "10.96.0.18", external: []string{"192.0.2.10"}, ports: []corev1.ServicePort{tcpPort("", 80, 8080)}, endpoints: []string{"web-2"}},
		{name: "lb", ip: "10.96.0.14", typ: corev1.ServiceTypeLoadBalancer, local: true, lb: "203.0.113.10", ports: []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30082}}, endpoints: []string{"web-1", "web-3"}},
	} {
		svc := kubeproxytest.NewService(d.name, d.ip, corev1.ServiceSpec{Type: d.typ, Ports: d.ports, ExternalIPs: d.external})
		if d.local {
			svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}
		if d.affinity {
			svc.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		}
		if d.lb != "" {
			svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: d.lb, IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}}
		}
		snap.Services = append(snap.Services, svc)
		es := *kubeproxytest.Slice(&svc, nil, nil)
		for _, p := range d.ports {
			es.Ports = append(es.Ports, kubeproxytest.SlicePort(p.Name, p.Protocol, p.TargetPort.IntVal))
		}
		for _, e := range d.endpoints {
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{pods[e].IP}, NodeName: ptr.To(pods[e].Node),
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: e}})
		}
		snap.EndpointSlices = append(snap.EndpointSlices, es)
	}
	if edit != nil {
		edit(snap)
	}
	return snap
}

// nodeANFT is node-a as the nftables recording saw it, with the ruleset changed by edit.
func nodeANFT(t testing.TB, edit func(objs []map[string]any) []map[string]any) *netstack.Netstack {
	t.Helper()
	b := readFixture(t, nftFixture)
	text := string(b)
	if edit != nil {
		var doc struct {
			Nftables []map[string]any `json:"nftables"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		doc.Nftables = edit(doc.Nftables)
		out, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		text = string(out)
	}
	ns := nodeAStack()
	ns.NFTables = text
	return ns
}

// editMapElems rewrites the elements of one of kube-proxy's sets or maps.
func editMapElems(name string, edit func(elems []any) []any) func([]map[string]any) []map[string]any {
	return func(objs []map[string]any) []map[string]any {
		for _, o := range objs {
			for _, kind := range []string{"map", "set"} {
				if m, ok := o[kind].(map[string]any); ok && m["table"] == "kube-proxy" && m["family"] == "ip" && m["name"] == name {
					elems, _ := m["elem"].([]any)
					m["elem"] = edit(elems)
				}
			}
		}
		return objs
	}
}

// editRules rewrites the statements of every rule of a chain of table ip kube-proxy.
func editRules(chain string, edit func(expr []any) []any) func([]map[string]any) []map[string]any {
	return func(objs []map[string]any) []map[string]any {
		for _, o := range objs {
			if r, ok := o["rule"].(map[string]any); ok && r["table"] == "kube-proxy" && r["chain"] == chain {
				r["expr"] = edit(r["expr"].([]any))
			}
		}
		return objs
	}
}

// replaceJSON replaces a value everywhere in a decoded JSON tree.
func replaceJSON(v any, old, new any) any {
	switch x := v.(type) {
	case []any:
		for i := range x {
			x[i] = replaceJSON(x[i], old, new)
		}
	case map[string]any:
		for k := range x {
			x[k] = replaceJSON(x[k], old, new)
		}
	default:
		if v == old {
			return new
		}
	}
	return v
}

func TestNFTablesRecorded(t *testing.T) {
	type tc struct {
		origin   Origin
		pkt      model.Packet
		rules    func([]map[string]any) []map[string]any
		objects  func(*cluster.Snapshot)
		want     got
		wantRule string // a substring of the deciding rule of the first branch
		wantText string // a substring of some step or suspicion
	}
	cases := map[string]tc{
		"cluster IP: one branch per endpoint of the numgen map": {
			origin: FromPod, pkt: pkt(model.TCP, "10.244.1.41", "10.96.0.10", 80),
			want: got{
				Service:   webHTTP,
				Endpoints: webHTTPEndpoints,
				Branches:  webHTTPBranches("Translated 10.244.2.13:8080 p=0.33 pod=web-3"),
			},
			wantRule: "service-KHN6ECMT-shop/web/tcp/http",
		},
		"the node's own packet to a cluster IP is marked for masquerade": {
			origin: FromHost, pkt: pkt(model.UDP, nodeAIP, "10.96.0.53", 53),
			want: got{
				Service:   "shop/dns:dns ClusterIP",
				Endpoints: "10.244.1.31:5353, 10.244.2.32:5353",
				Branches:  []string{"Translated 10.244.1.31:5353 p=0.50 pod=dns-1 local masq", "Translated 10.244.2.32:5353 p=0.50 pod=dns-2 masq"},
			},
		},
		"service without endpoints: kube-proxy's no-endpoint-services map rejects": {
			origin: FromPod, pkt: pkt(model.TCP, "10.244.1.41", "10.96.0.11", 80),
			want: got{
				Service:    "shop/empty:80 ClusterIP",
				Branches:   []string{"Rejected 10.96.0.11:80 p=1.00"},
				Suspicions: []string{"Critical ServiceNoEndpoints"},
			},
			wantRule: "reject-chain",
			wantText: "the selector app=empty matches no pod",
		},
		"node port from outside: every endpoint, masqueraded": {
			origin: FromOutside, pkt: pkt(model.TCP, outsideIP, nodeAIP, 30080),
			want: got{
				Service:   "shop/np:80 NodePort",
				Endpoints: "10.244.1.11:8080, 10.244.2.13:8080",
				Branches:  []string{"Translated 10.244.1.11:8080 p=0.50 pod=web-1 local masq", "Translated 10.244.2.13:8080 p=0.50 pod=web-3 masq"},
			},
		},
		"load balancer with externalTrafficPolicy Local: the local endpoint, source kept": {
			origin: FromOutside, pkt: pkt(model.TCP, outsideIP, "203.0.113.10", 80),
			want: got{
				Service:   "shop/lb:80 LoadBalancerIP",
				Endpoints: "10.244.1.11:8080",
				Branches:  []string{"Translated 10.244.1.11:8080 p=1.00 pod=web-1 local"},
			},
		},
		"session affinity: a new client is balanced": {
			origin: FromPod, pkt: pkt(model.TCP, "10.244.1.41", "10.96.0.15", 80),
			want: got{
				Service:   "shop/sticky:80 ClusterIP",
				Endpoints: "10.244.1.12:8080, 10.244.2.13:8080",
				Branches:  []string{"Translated 10.244.1.12:8080 p=0.50 pod=web-2 local", "Translated 10.244.2.13:8080 p=0.50 pod=web-3"},
			},
			wantText: "ClientIP session affinity",
		},
		"session affinity: a client in an endpoint's affinity set is kept there": {
			origin: FromPod, pkt: pkt(model.TCP, "10.244.1.41", "10.96.0.15", 80),
			rules: editMapElems("affinity-5EGX3QC7-shop/sticky/tcp/__10.244.2.13/8080", func(elems []any) []any {
				return append(elems, map[string]any{"elem": map[string]any{"val": "10.244.1.41", "timeout": json.Number("10800"), "expires": json.Number("10710")}})
			}),
			want: got{
				Service:    "shop/sticky:80 ClusterIP",
				Endpoints:  "10.244.1.12:8080, 10.244.2.13:8080",
				Branches:   []string{"Translated 10.244.2.13:8080 p=1.00 pod=web-3 pinned"},
				Suspicions: []string{"Info ServiceAffinityPinned"},
			},
			wantRule: "endpoint-5EGX3QC7-shop/sticky",
			wantText: "client 10.244.1.41 connected to it within the last 10800s",
		},
		"fault: an endpoint left out of the numgen map": {
			origin: FromPod, pkt: pkt(model.TCP, "10.244.1.41", "10.96.0.10", 80),
			rules: editRules("service-KHN6ECMT-shop/web/tcp/http", func(expr []any) []any {
				// dnat ip to numgen random mod 2 map { 0 : 10.244.1.11 . 8080, 1 : 10.244.1.12 . 8080 }
				m := expr[1].(map[string]any)["dnat"].(map[string]any)["addr"].(map[string]any)["map"].(map[string]any)
				m["key"].(map[string]any)["numgen"].(map[string]any)["mod"] = json.Number("2")
				data := m["data"].(map[string]any)
				data["set"] = data["set"].([]any)[:2]
				return expr
			}),
			want: got{
				Service:   webHTTP,
				Endpoints: webHTTPEndpoints,
				Branches: []string{
					"Translated 10.244.1.11:8080 p=0.50 pod=web-1 local",
					"Translated 10.244.1.12:8080 p=0.50 pod=web-2 local",
				},
				Suspicions: []string{"Warning ServiceRulesMissing"},
			},
			wantText: "has no rule sending Service shop/web port http (TCP 80) to 10.244.2.13:8080",
		},
		"fault: the map still sends to a pod that is gone": {
			origin: FromPod, pkt: pkt(model.TCP, "10.244.1.41", "10.96.0.10", 80),
			rules: editRules("service-KHN6ECMT-shop/web/tcp/http", func(expr []any) []any {
				return replaceJSON(expr, "10.244.2.13", "10.244.2.99").([]any)
			}),
			want: got{
				Service:    webHTTP,
				Endpoints:  webHTTPEndpoints,
				Branches:   webHTTPBranches("Translated 10.244.2.99:8080 p=0.33"),
				Suspicions: []string{"Warning ServiceRulesMissing", "Critical ServiceEndpointStale"},
			},
		},
		"fault: the service-ips element is missing": {
			origin: FromPod, pkt: pkt(model.TCP, "10.244.1.41", "10.96.0.10", 80),
			rules: editMapElems("service-ips", func(elems []any) []any {
				return slices.DeleteFunc(elems, func(e any) bool {
					b, _ := json.Marshal(e)
					return strings.Contains(string(b), "shop/web/tcp/http")
				})
			}),
			want: got{
				Service:   webHTTP,
				Endpoints: webHTTPEndpoints,
				// Nothing translates: cluster-ips-check rejects the port it no longer knows.
				Branches:   []string{"Rejected 10.96.0.10:80 p=1.00"},
				Suspicions: []string{"Critical ServiceRulesMissing"},
			},
			wantRule: "cluster-ips-check",
			wantText: "no rule for Service shop/web port http (TCP 80) in its service-ips map",
		},
		"fault: endpoints came back but kube-proxy still rejects": {
			origin: FromPod, pkt: pkt(model.TCP, "10.244.1.41", "10.96.0.11", 80),
			objects: func(s *cluster.Snapshot) {
				for i := range s.EndpointSlices {
					if s.EndpointSlices[i].Name == "empty-x1" {
						s.EndpointSlices[i].Endpoints = []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.11"}, NodeName: ptr.To("node-a"),
							Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true)}}}
					}
				}
			},
			want: got{
				Service:    "shop/empty:80 ClusterIP",
				Endpoints:  "10.244.1.11:8080",
				Branches:   []string{"Rejected 10.96.0.11:80 p=1.00"},
				Suspicions: []string{"Critical ServiceRulesMissing"},
			},
			wantText: "still treats",
		},
		"fault: another table's chain drops the translated packet": {
			origin: FromPod, pkt: pkt(model.TCP, "10.244.1.41", "10.96.0.10", 80),
			rules: func(objs []map[string]any) []map[string]any {
				return append(objs,
					map[string]any{"table": map[string]any{"family": "inet", "name": "guard"}},
					map[string]any{"chain": map[string]any{"family": "inet", "table": "guard", "name": "fwd", "type": "filter", "hook": "forward", "prio": json.Number("0"), "policy": "accept"}},
					map[string]any{"rule": map[string]any{"family": "inet", "table": "guard", "chain": "fwd", "expr": []any{
						map[string]any{"match": map[string]any{"op": "==", "left": map[string]any{"payload": map[string]any{"protocol": "ip", "field": "daddr"}}, "right": "10.244.2.13"}},
						map[string]any{"drop": nil}}}})
			},
			want: got{
				Service:    webHTTP,
				Endpoints:  webHTTPEndpoints,
				Branches:   webHTTPBranches("Dropped 10.244.2.13:8080 p=0.33 pod=web-3"),
				Suspicions: []string{"Critical NFTablesDrop"},
			},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			checkProcess(t, nftCluster(c.objects), nodeANFT(t, c.rules), ModeNFTables, c.origin, c.pkt, c.want, c.wantRule, c.wantText)
		})
	}
}

// TestNFTChainNames checks the mapping of kube-proxy's nftables chain names back to their
// service ports against the recorded chains.
func TestNFTChainNames(t *testing.T) {
	snap := nftCluster(nil)
	web, np := snap.Service("shop", "web"), snap.Service("shop", "np")
	cases := map[string]struct {
		chain string
		svc   *corev1.Service
		port  int
		want  bool
	}{
		"service chain of a named port": {"service-KHN6ECMT-shop/web/tcp/http", web, 0, true},
		"the other port's chain":        {"service-HPJLA6DC-shop/web/tcp/https", web, 0, false},
		"external chain of an unnamed":  {"external-R5PPCHH2-shop/np/tcp/", np, 0, true},
		"endpoint chain":                {"endpoint-6SXSG55R-shop/np/tcp/__10.244.1.12/8080", np, 0, true},
		"kube-proxy's own chain":        {"services", web, 0, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := nftChainNames(c.chain, c.svc, &c.svc.Spec.Ports[c.port]); got != c.want {
				t.Errorf("nftChainNames(%s) = %v, want %v", c.chain, got, c.want)
			}
		})
	}
	rs := nodeANFT(t, nil)
	rules, err := ParseRules(rs)
	if err != nil {
		t.Fatal(err)
	}
	// The service chain and the service-ips element that leads to it.
	if got := nftServiceRules(rules.NFTables, web, &web.Spec.Ports[0]); got != 2 {
		t.Errorf("nftServiceRules(shop/web:http) = %d, want 2", got)
	}
}
