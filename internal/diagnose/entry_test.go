package diagnose

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/fixture/flowtest"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
)

const lbIP = "203.0.113.10"

// withLoadBalancer makes default/web a LoadBalancer with ingress lbIP, and writes on every
// node the rules kube-proxy writes for it: the load-balancer IP's jump to the service's
// KUBE-EXT chain, which marks the packet for masquerade and goes on to KUBE-SVC.
func withLoadBalancer(t *testing.T, c *fixture.Cluster) {
	t.Helper()
	for i := range c.Snapshot.Services {
		svc := &c.Snapshot.Services[i]
		if svc.Name == "web" {
			svc.Spec.Type = corev1.ServiceTypeLoadBalancer
			svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: lbIP}}
		}
	}
	svcChain := regexp.MustCompile(`"default/web:http cluster IP" -m tcp --dport 80 -j (KUBE-SVC-\w+)`)
	for name := range c.Nodes {
		h := c.Host(name)
		m := svcChain.FindStringSubmatch(h.IPTables)
		if m == nil {
			t.Fatalf("node %s has no service chain for default/web", name)
		}
		h.IPTables = strings.Replace(h.IPTables, "*nat\n", "*nat\n:KUBE-EXT-WEBLB - [0:0]\n", 1)
		fixture.InsertRule(h, "nat", `KUBE-SERVICES -d `+lbIP+`/32 -p tcp -m comment --comment "default/web:http loadbalancer IP" -m tcp --dport 80 -j KUBE-EXT-WEBLB`)
		fixture.InsertRule(h, "nat", `KUBE-EXT-WEBLB -m comment --comment "masquerade traffic for default/web:http external destinations" -j KUBE-MARK-MASQ`)
		fixture.InsertRule(h, "nat", `KUBE-EXT-WEBLB -j `+m[1])
		// InsertRule puts each rule first in its table: the jump to KUBE-SVC must come
		// after the mark.
		h.IPTables = swapLines(h.IPTables, `KUBE-EXT-WEBLB -j `+m[1], `KUBE-EXT-WEBLB -m comment`)
	}
}

// swapLines makes the line containing a come after the one containing b.
func swapLines(text, a, b string) string {
	lines := strings.Split(text, "\n")
	ia := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, a) })
	ib := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, b) })
	if ia >= 0 && ib >= 0 && ia < ib {
		lines[ia], lines[ib] = lines[ib], lines[ia]
	}
	return strings.Join(lines, "\n")
}

// TestLoadBalancerEntries: traffic from outside to a load-balancer IP enters by every node
// (or the ones named), each an entry branch, and the answer says which work.
func TestLoadBalancerEntries(t *testing.T) {
	cases := map[string]struct {
		entries []string
		fault   func(c *fixture.Cluster)
		want    Verdict
		summary string
		note    string
	}{
		"every node is an entry": {want: Reachable, note: "every node, 2 of 2 (node-0, node-1)"},
		"the entry the question names": {entries: []string{"node-1"}, want: Reachable,
			note: "the entry nodes the question names, 1 of 1 (node-1)"},
		"node-1 drops the traffic it forwards": {
			fault: func(c *fixture.Cluster) {
				fixture.InsertRule(c.Host("node-1"), "filter", "FORWARD -p tcp -m tcp --dport 8080 -j DROP")
			},
			want: PartiallyReachable, summary: "entering by node/node-1 to pod/default/web-0"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := twoNodes("vxlan")
			withLoadBalancer(t, c)
			if tc.fault != nil {
				tc.fault(c)
			}
			src := endpoint(t, c.Snapshot, "ip:198.51.100.7")
			dst := endpoint(t, c.Snapshot, "ip:"+lbIP)
			if dst.Type != model.EndpointService || dst.Name != "web" {
				t.Fatalf("the load-balancer IP resolves to %s, want the service", dst)
			}
			q := model.Question{Source: src, Destination: dst, Protocol: model.TCP, Port: 80, EntryNodes: tc.entries}
			plan := Plan(c.Snapshot, q)
			res, err := Diagnose(Input{Cluster: c.Snapshot, Nodes: collected(c, plan), Question: q})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			_ = WriteText(&b, q, res)
			if res.Verdict != tc.want {
				t.Fatalf("verdict %s, want %s\n%s", res.Verdict, tc.want, b.String())
			}
			if !strings.Contains(res.Summary, tc.summary) {
				t.Errorf("summary %q does not say %q", res.Summary, tc.summary)
			}
			if tc.note != "" && !slices.ContainsFunc(res.Suspicions, func(s model.Suspicion) bool {
				return s.Reason == model.ReasonServiceEntryNodes && strings.Contains(s.Message, tc.note)
			}) {
				t.Errorf("no %s saying %q:\n%s", model.ReasonServiceEntryNodes, tc.note, b.String())
			}
		})
	}
}

// TestEntriesLocalPolicy: with externalTrafficPolicy Local the entries are the nodes with a
// local endpoint, and the others are said to be left out.
func TestEntriesLocalPolicy(t *testing.T) {
	c := flannelThree()
	for i := range c.Snapshot.Services {
		if svc := &c.Snapshot.Services[i]; svc.Name == "web" {
			svc.Spec.Type = corev1.ServiceTypeLoadBalancer
			svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: lbIP}}
		}
	}
	q := model.Question{Source: endpoint(t, c.Snapshot, "ip:198.51.100.7"), Destination: endpoint(t, c.Snapshot, "ip:"+lbIP), Protocol: model.TCP, Port: 80}
	plan := Plan(c.Snapshot, q)
	if len(plan.Samples) != 1 {
		t.Fatalf("samples %v", plan.Samples)
	}
	s := plan.Samples[0]
	if !slices.Equal(s.Entries, []string{"node-0", "node-1"}) || !slices.Equal(s.Passed, []string{"node-2"}) {
		t.Errorf("entries %v, left out %v; want node-0 and node-1, node-2 left out", s.Entries, s.Passed)
	}
	if _, ok := plan.Pods["node-2"]; ok {
		t.Errorf("node-2 is collected, but it is no entry and runs no endpoint: %v", plan.Nodes())
	}
}

// flannelThree is the two-node cluster's pods on three nodes, node-2 without any.
func flannelThree() *fixture.Cluster {
	return flowtest.TwoNodes(flanneltest.New(flanneltest.VXLAN, 3))
}
