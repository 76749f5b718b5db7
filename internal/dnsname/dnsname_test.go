package dnsname

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdiag/netdiag/internal/cluster"
)

func pod(ns, name, node, ip string) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}}
}

func service(ns, name, clusterIP string) corev1.Service {
	return corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{ClusterIP: clusterIP}}
}

type ep struct {
	ip, pod, host string
	ready         bool
}

func slice(ns, svc string, eps ...ep) discoveryv1.EndpointSlice {
	es := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svc + "-x",
		Labels: map[string]string{discoveryv1.LabelServiceName: svc}}}
	for _, e := range eps {
		ready := e.ready
		d := discoveryv1.Endpoint{Addresses: []string{e.ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: e.pod}}
		if e.host != "" {
			d.Hostname = &e.host
		}
		es.Endpoints = append(es.Endpoints, d)
	}
	return es
}

func testSnapshot() *cluster.Snapshot {
	ext := service("data", "legacy", "")
	ext.Spec.Type, ext.Spec.ExternalName = corev1.ServiceTypeExternalName, "db.data.svc.cluster.local"
	out := service("data", "upstream", "")
	out.Spec.Type, out.Spec.ExternalName = corev1.ServiceTypeExternalName, "db.example.com"
	loop := service("data", "loop", "")
	loop.Spec.Type, loop.Spec.ExternalName = corev1.ServiceTypeExternalName, "loop.data.svc.cluster.local"
	return &cluster.Snapshot{
		Pods: []corev1.Pod{
			pod("shop", "web-0", "n1", "10.244.1.5"), pod("shop", "web-1", "n2", "10.244.2.6"),
			pod("shop", "client", "n1", "10.244.1.9"),
		},
		Services: []corev1.Service{
			service("data", "db", "10.96.0.20"), service("shop", "web", corev1.ClusterIPNone),
			service("shop", "cart", "10.96.0.30"), service("shop", "empty", corev1.ClusterIPNone),
			ext, out, loop,
		},
		EndpointSlices: []discoveryv1.EndpointSlice{
			slice("shop", "web", ep{ip: "10.244.2.6", pod: "web-1", host: "web-1", ready: true},
				ep{ip: "10.244.1.5", pod: "web-0", host: "web-0", ready: true},
				ep{ip: "10.244.3.3", pod: "web-2", host: "web-2", ready: false}),
			slice("shop", "empty", ep{ip: "10.244.3.4", pod: "gone", ready: false}),
		},
	}
}

func clientResolvConf() ResolvConf {
	rc, _ := PodResolvConf(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop"}}, "cluster.local",
		[]netip.Addr{netip.MustParseAddr("10.96.0.10")}, &ResolvConf{Search: []string{"corp.example"}})
	return rc
}

func TestResolve(t *testing.T) {
	type want struct {
		kind     Kind
		addrs    string
		external string
		tried    int
		aliases  int
	}
	cases := map[string]struct {
		name string
		want want
	}{
		"service by short name in the own namespace": {"cart", want{kind: KindService, addrs: "10.96.0.30", tried: 1}},
		"service with its namespace":                 {"db.data", want{kind: KindService, addrs: "10.96.0.20", tried: 2}},
		"service by its full name":                   {"db.data.svc.cluster.local", want{kind: KindService, addrs: "10.96.0.20", tried: 5}},
		"full name with a final dot asks it alone":   {"db.data.svc.cluster.local.", want{kind: KindService, addrs: "10.96.0.20", tried: 1}},
		"relative to the svc search domain":          {"db.data.svc", want{kind: KindService, addrs: "10.96.0.20", tried: 3}},
		"headless service answers its ready pods":    {"web", want{kind: KindHeadless, addrs: "10.244.1.5,10.244.2.6", tried: 1}},
		"headless per-pod name, with ndots dots":     {"web-0.web.shop.svc.cluster.local", want{kind: KindEndpoint, addrs: "10.244.1.5", tried: 1}},
		"headless per-pod name through the search":   {"web-1.web", want{kind: KindEndpoint, addrs: "10.244.2.6", tried: 1}},
		"pod A record": {"10-244-1-5.shop.pod.cluster.local", want{kind: KindPod, addrs: "10.244.1.5", tried: 5}},
		"ExternalName inside the cluster is followed":  {"legacy.data", want{kind: KindService, addrs: "10.96.0.20", tried: 2, aliases: 1}},
		"ExternalName outside is left to the resolver": {"upstream.data", want{external: "db.example.com", tried: 2, aliases: 1}},
		"ExternalName loop ends without an answer":     {"loop.data", want{tried: 2, aliases: maxAliases}},
		"external name is left to the resolver":        {"example.com", want{external: "example.com", tried: 5}},
		"external full name":                           {"www.example.com.", want{external: "www.example.com", tried: 1}},
		"a single label nothing answers is NXDOMAIN":   {"nosuch", want{tried: 5}},
		"a missing service is NXDOMAIN":                {"missing.data.svc.cluster.local.", want{tried: 1}},
		"not-ready endpoint has no per-pod name":       {"web-2.web.shop.svc.cluster.local.", want{tried: 1}},
	}
	snap := testSnapshot()
	rc := clientResolvConf()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := Resolve(snap, "cluster.local", rc, tc.name)
			got := want{external: r.External, tried: len(r.Tried), aliases: len(r.Aliases)}
			if r.Record != nil {
				got.kind = r.Record.Kind
				var a []string
				for _, ip := range r.Record.Addrs {
					a = append(a, ip.String())
				}
				got.addrs = strings.Join(a, ",")
			}
			if d := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); d != "" {
				t.Errorf("Resolve(%q) (-want +got):\n%s\ntried %v; %s", tc.name, d, r.Tried, r.Describe())
			}
		})
	}
}

func TestHeadlessWithoutReadyEndpointsHasNoAddress(t *testing.T) {
	r := Resolve(testSnapshot(), "cluster.local", clientResolvConf(), "empty")
	if r.Record == nil || r.Resolved() {
		t.Fatalf("want a record without addresses, got %+v", r)
	}
	if !strings.Contains(r.Describe(), "no ready address") {
		t.Errorf("Describe() = %q, want it to say there is no ready address", r.Describe())
	}
}

func TestPodRecordNamesThePod(t *testing.T) {
	r := Resolve(testSnapshot(), "cluster.local", clientResolvConf(), "10-244-2-6.shop.pod.cluster.local.")
	if !r.Resolved() || r.Record.Targets[0].Pod != "web-1" || r.Record.Targets[0].Node != "n2" {
		t.Fatalf("want the record to name pod shop/web-1 on n2, got %+v", r.Record)
	}
}

func TestClusterDomainFromTheFlag(t *testing.T) {
	rc, _ := PodResolvConf(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop"}}, "corp.k8s.",
		[]netip.Addr{netip.MustParseAddr("10.96.0.10")}, nil)
	if r := Resolve(testSnapshot(), "corp.k8s", rc, "db.data"); !r.Resolved() || r.Record.Name != "db.data.svc.corp.k8s" {
		t.Errorf("db.data in domain corp.k8s: got %s", r.Describe())
	}
	if r := Resolve(testSnapshot(), "corp.k8s", rc, "db.data.svc.cluster.local."); r.Resolved() || r.External != "db.data.svc.cluster.local" {
		t.Errorf("cluster.local outside domain corp.k8s must go outside: got %s", r.Describe())
	}
}

func TestPodResolvConf(t *testing.T) {
	dns := []netip.Addr{netip.MustParseAddr("10.96.0.10")}
	host := &ResolvConf{Nameservers: []netip.Addr{netip.MustParseAddr("192.168.0.1")}, Search: []string{"corp.example"}, Ndots: 1}
	two := "2"
	cases := map[string]struct {
		pod    corev1.PodSpec
		want   string
		wantOK bool
	}{
		"ClusterFirst": {corev1.PodSpec{},
			"nameserver 10.96.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local corp.example\noptions ndots:5\n", true},
		"hostNetwork falls back to the node's": {corev1.PodSpec{HostNetwork: true},
			"nameserver 192.168.0.1\nsearch corp.example\noptions ndots:1\n", true},
		"ClusterFirstWithHostNet": {corev1.PodSpec{HostNetwork: true, DNSPolicy: corev1.DNSClusterFirstWithHostNet},
			"nameserver 10.96.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local corp.example\noptions ndots:5\n", true},
		"None with dnsConfig": {corev1.PodSpec{DNSPolicy: corev1.DNSNone, DNSConfig: &corev1.PodDNSConfig{
			Nameservers: []string{"1.1.1.1"}, Searches: []string{"a.example"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &two}}}},
			"nameserver 1.1.1.1\nsearch a.example\noptions ndots:2\n", true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop"}, Spec: tc.pod}
			rc, ok := PodResolvConf(p, "cluster.local", dns, host)
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if d := cmp.Diff(tc.want, rc.Format()); d != "" {
				t.Errorf("resolv.conf (-want +got):\n%s", d)
			}
			back, err := ParseResolvConf([]byte(rc.Format()))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(rc, back, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
				t.Errorf("ParseResolvConf(Format()) (-want +got):\n%s", d)
			}
		})
	}
	if _, ok := PodResolvConf(&corev1.Pod{Spec: corev1.PodSpec{DNSPolicy: corev1.DNSDefault}}, "cluster.local", dns, nil); ok {
		t.Error("a Default pod with the node's resolv.conf unknown must not claim a resolver")
	}
}

func TestParseResolvConfAsGlibc(t *testing.T) {
	rc, err := ParseResolvConf([]byte("# kubelet\nnameserver 10.96.0.10\nnameserver bogus\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nnameserver 10.0.0.4\n" +
		"domain first.example\nsearch ns.svc.cluster.local svc.cluster.local ; comment\noptions timeout:2 ndots:5 attempts:1\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := ResolvConf{Nameservers: []netip.Addr{netip.MustParseAddr("10.96.0.10"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")},
		Search: []string{"ns.svc.cluster.local", "svc.cluster.local"}, Ndots: 5}
	if d := cmp.Diff(want, rc, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if _, err := ParseResolvConf(make([]byte, maxResolvConf+1)); err == nil {
		t.Error("an oversized resolv.conf must be refused")
	}
}

func FuzzParseResolvConf(f *testing.F) {
	f.Add([]byte("nameserver 10.96.0.10\nsearch a b c\noptions ndots:5\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rc, err := ParseResolvConf(data)
		if err != nil {
			return
		}
		if len(rc.Nameservers) > maxNameservers || len(rc.Search) > maxSearch || rc.Ndots > 15 {
			t.Fatalf("limits broken: %+v", rc)
		}
	})
}
