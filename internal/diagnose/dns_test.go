package diagnose

import (
	"fmt"
	"github.com/netdiag/netdiag/internal/service"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/fixture/flowtest"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
)

// withDNS is the two-node flannel cluster with CoreDNS on node-1 behind kube-dns, so that a
// pod on node-0 asks its nameserver across the nodes.
// kube-dns comes first, so it has 10.96.0.10 as in a kubeadm cluster, and web 10.96.0.11.
func withDNS() *fixture.Cluster {
	c := flanneltest.New(flanneltest.VXLAN, 2).ClusterDNS(1)
	return flowtest.TwoNodes(c)
}

type nameFlow struct {
	name  string
	proto model.Protocol
	port  uint16
	fault func(c *fixture.Cluster)

	want Verdict
	// reasons are the codes of the suspicions at Warning or above, in order.
	reasons []model.Reason
	// says are words the summary must hold.
	says []string
}

func runNameFlow(t *testing.T, f nameFlow) *Result {
	t.Helper()
	c := withDNS()
	if f.fault != nil {
		f.fault(c)
	}
	src := endpoint(t, c.Snapshot, "pod:default/client")
	n := ResolveName(c.Snapshot, "cluster.local", src, f.name)
	q := model.Question{Source: src, Protocol: f.proto, Port: f.port}
	dst, ok, err := n.Endpoint(c.Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		q.Destination = dst
	}
	res, err := DiagnoseName(Diagnose, Input{Cluster: c.Snapshot, Nodes: c.Nodes, Question: q}, n, n.DNSQuestions(c.Snapshot, src))
	if err != nil {
		t.Fatalf("DiagnoseName: %v", err)
	}
	flowtest.Check(t,
		flowtest.Want{Verdict: string(f.want), Reasons: f.reasons},
		flowtest.Got{Verdict: string(res.Verdict), Suspicions: res.Suspicions, Path: res.Path},
		func(b *strings.Builder) error {
			b.WriteString(res.Summary + "\n")
			for _, s := range res.Suspicions {
				fmt.Fprintf(b, "%s %s %s\n", s.Level, s.Reason, s.Message)
			}
			return nil
		})
	for _, w := range f.says {
		if !strings.Contains(res.Summary, w) {
			t.Errorf("summary %q does not say %q", res.Summary, w)
		}
	}
	return res
}

func TestNames(t *testing.T) {
	tcp := model.TCP
	dropUDP53 := func(c *fixture.Cluster) {
		fixture.InsertRule(c.Host("node-1"), "filter", "FORWARD -p udp -m udp --dport 53 -j DROP")
	}
	cases := map[string]nameFlow{
		"a service by its short name": {name: "web", proto: tcp, port: 80, want: Reachable,
			says: []string{"web resolved to 10.96.0.11 from the cluster's objects"}},
		"a service by its full name": {name: "web.default.svc.cluster.local", proto: tcp, port: 80, want: Reachable},
		"a pod record": {name: "10-244-1-12.default.pod.cluster.local", proto: tcp, port: 5432, want: Reachable,
			says: []string{"to pod/default/db"}},
		"no such service: NXDOMAIN": {name: "nosuch", proto: tcp, port: 80, want: Unreachable,
			reasons: []model.Reason{model.ReasonNameNotResolved},
			says:    []string{"nosuch.default.svc.cluster.local, nosuch.svc.cluster.local"}},
		"a name outside the cluster is for the source's resolver": {name: "example.com", proto: tcp, port: 443, want: Unknown},
		"UDP 53 dropped on the DNS pod's node: the name cannot be resolved": {name: "web", proto: tcp, port: 80, fault: dropUDP53,
			want:    Unreachable,
			reasons: []model.Reason{model.ReasonDNSPathBroken},
			says:    []string{"web cannot be resolved by pod/default/client", "UDP/53"}},
		"TCP 53 dropped: small answers still come": {name: "web", proto: tcp, port: 80,
			fault: func(c *fixture.Cluster) {
				fixture.InsertRule(c.Host("node-1"), "filter", "FORWARD -p tcp -m tcp --dport 53 -j DROP")
			},
			want: Reachable, reasons: []model.Reason{model.ReasonDNSPathBroken}},
		"the name does not resolve and the DNS path is broken too": {name: "nosuch", proto: tcp, port: 80, fault: dropUDP53,
			want: Unreachable, reasons: []model.Reason{model.ReasonDNSPathBroken, model.ReasonNameNotResolved}},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) { runNameFlow(t, f) })
	}
}

func TestNameResolvedSaysWhichAddressFromWhere(t *testing.T) {
	res := runNameFlow(t, nameFlow{name: "web", proto: model.TCP, port: 80, want: Reachable})
	var msg string
	for _, s := range res.Suspicions {
		if s.Reason == model.ReasonNameResolved {
			msg = s.Message
		}
	}
	for _, w := range []string{"web resolves to 10.96.0.11", "service default/web", "cluster's objects", "search path (default.svc.cluster.local svc.cluster.local cluster.local, ndots:5)"} {
		if !strings.Contains(msg, w) {
			t.Errorf("NameResolved says %q, want it to hold %q", msg, w)
		}
	}
}

func TestPlanNameCollectsTheDNSPods(t *testing.T) {
	c := withDNS()
	src := endpoint(t, c.Snapshot, "pod:default/client")
	n := ResolveName(c.Snapshot, "cluster.local", src, "nosuch")
	plan := PlanName(c.Snapshot, model.Question{Source: src, Protocol: model.TCP, Port: 80}, n.DNSQuestions(c.Snapshot, src), service.DefaultMaxNodes)
	var pods []string
	for _, node := range plan.Nodes() {
		for _, p := range plan.Pods[node] {
			pods = append(pods, node+":"+p.Namespace+"/"+p.Name)
		}
	}
	if got, want := strings.Join(pods, " "), "node-0:default/client node-1:kube-system/coredns"; got != want {
		t.Errorf("plan = %s, want %s", got, want)
	}
}

func TestNameAnsweredByTheSourcesResolver(t *testing.T) {
	c := withDNS()
	src := endpoint(t, c.Snapshot, "pod:default/client")
	n := ResolveName(c.Snapshot, "cluster.local", src, "www.example.com")
	ip := netip.MustParseAddr("203.0.113.10")
	n.Answer = &netstack.NameLookup{Name: "www.example.com", Answered: "www.example.com", Addrs: []netip.Addr{ip}, Server: netip.MustParseAddr("10.96.0.10")}
	q := model.Question{Source: src, Destination: model.Endpoint{Type: model.EndpointExternal, IP: ip}, Protocol: model.TCP, Port: 443}
	res, err := DiagnoseName(Diagnose, Input{Cluster: c.Snapshot, Nodes: c.Nodes, Question: q}, n, n.DNSQuestions(c.Snapshot, src))
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Reachable {
		t.Fatalf("verdict %s: %s", res.Verdict, res.Summary)
	}
	i := slices.IndexFunc(res.Suspicions, func(s model.Suspicion) bool { return s.Reason == model.ReasonNameResolved })
	if i < 0 || !strings.Contains(res.Suspicions[i].Message, "www.example.com resolves to 203.0.113.10 as www.example.com, answered by the source's own resolver (nameserver 10.96.0.10)") {
		t.Errorf("NameResolved does not say the source's resolver answered: %+v", res.Suspicions)
	}
	if !strings.Contains(res.Summary, "www.example.com resolved to 203.0.113.10 from the source's resolver") {
		t.Errorf("summary %q", res.Summary)
	}

	n.Answer = &netstack.NameLookup{Name: "www.example.com", Asked: []string{"www.example.com"}, Err: "10.96.0.10 answers NameError for www.example.com"}
	q.Destination = model.Endpoint{}
	res, err = DiagnoseName(Diagnose, Input{Cluster: c.Snapshot, Nodes: c.Nodes, Question: q}, n, n.DNSQuestions(c.Snapshot, src))
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Unreachable || !strings.Contains(res.Summary, "answered no address (10.96.0.10 answers NameError") {
		t.Errorf("an NXDOMAIN from the source's resolver: %s %s", res.Verdict, res.Summary)
	}
}

func TestNoClusterDNSServiceSaysTheResolverIsNotKnown(t *testing.T) {
	c := flowtest.TwoNodes(flanneltest.New(flanneltest.VXLAN, 2))
	src := endpoint(t, c.Snapshot, "pod:default/client")
	n := ResolveName(c.Snapshot, "cluster.local", src, "web.default.svc.cluster.local.")
	dst, ok, err := n.Endpoint(c.Snapshot)
	if err != nil || !ok {
		t.Fatalf("a full cluster name resolves without the pod's resolver: %v %v", ok, err)
	}
	q := model.Question{Source: src, Destination: dst, Protocol: model.TCP, Port: 80}
	res, err := DiagnoseName(Diagnose, Input{Cluster: c.Snapshot, Nodes: c.Nodes, Question: q}, n, n.DNSQuestions(c.Snapshot, src))
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Reachable || !slices.ContainsFunc(res.Suspicions, func(s model.Suspicion) bool {
		return s.Reason == model.ReasonDNSPathUnknown && strings.Contains(s.Message, "no Service kube-system/kube-dns")
	}) {
		t.Errorf("want Reachable with DNSPathUnknown naming kube-dns: %s %+v", res.Verdict, res.Suspicions)
	}
}
