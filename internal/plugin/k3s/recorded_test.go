package k3s_test

import (
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin/k3s"
	"github.com/netdiag/netdiag/internal/plugin/k3s/k3stest"
	"github.com/netdiag/netdiag/internal/plugin/plugintest"
)

// recorded puts on node-1 the filter table and ipsets kube-router's controller really wrote
// for node-1 of this cluster with the policies deny-db and allow-client-to-db
// (testdata/README.md says how), in place of the layout's own kube-router rules, and adds
// the two policies to the snapshot.
func recorded(t *testing.T, c *fixture.Cluster) {
	t.Helper()
	filter, err := os.ReadFile("testdata/node-1.iptables")
	if err != nil {
		t.Fatal(err)
	}
	sets, err := os.ReadFile("testdata/node-1.ipset")
	if err != nil {
		t.Fatal(err)
	}
	h := c.Host("node-1")
	withoutKubeRouter(h)
	// The recorded table holds only kube-router's chains and its jumps, which it keeps first
	// in the built-in chains: they go before the layout's filter rules.
	var decls, rules []string
	for line := range strings.SplitSeq(string(filter), "\n") {
		switch {
		case strings.HasPrefix(line, ":KUBE-"):
			decls = append(decls, line)
		case strings.HasPrefix(line, "-A "):
			rules = append(rules, line)
		}
	}
	var out []string
	inFilter, placed := false, false
	for line := range strings.SplitSeq(h.IPTables, "\n") {
		switch {
		case line == "*filter":
			inFilter = true
		case inFilter && !placed && strings.HasPrefix(line, "-A "):
			out = append(out, rules...)
			placed = true
		case inFilter && !placed && line == "COMMIT":
			out = append(out, rules...)
			placed = true
		}
		out = append(out, line)
		if line == ":OUTPUT ACCEPT [0:0]" && inFilter {
			out = append(out, decls...)
		}
	}
	if !placed {
		t.Fatal("node-1 has no filter table to put the recorded rules in")
	}
	h.IPTables = strings.Join(out, "\n")
	h.IPSets += string(sets)
	tcp := intstr.FromInt32(5432)
	proto := corev1.ProtocolTCP
	c.Snapshot.NetworkPolicies = append(c.Snapshot.NetworkPolicies,
		networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "deny-db"},
			Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}},
		networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "allow-client-to-db"},
			Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{
					From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "client"}}}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: &proto, Port: &tcp}},
				}}}})
}

// TestFlowsK3sRecorded walks kube-router's real chains: the pod the policy allows gets
// through by the policy's ipsets, another is rejected by the db pod's chain, named with the
// policies that select it.
func TestFlowsK3sRecorded(t *testing.T) {
	tcp := model.TCP
	cases := map[string]flow{
		"client to db, but kube-router's source set lacks client: rejected though the objects allow": {
			Fault: func(c *fixture.Cluster) {
				h := c.Host("node-1")
				h.IPSets = strings.ReplaceAll(h.IPSets, "add KUBE-SRC-XKGRXWF5BBNZPAHO 10.244.0.10 timeout 0\n", "")
			},
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonIPTablesReject},
		},
		"client to db: allowed by allow-client-to-db's ipsets": {
			Want: diagnose.Reachable, Via: []string{"pod/default/client", "node/node-1", "pod/default/db"},
		},
		"web-0 to db: rejected by db's chain": {
			Src: "pod:default/web-0", Dst: "pod:default/db", Proto: tcp, Port: 5432,
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonIPTablesReject, model.ReasonNetworkPolicyDenied},
		},
		"client to db on another port: rejected": {
			Src: "pod:default/client", Dst: "pod:default/db", Proto: tcp, Port: 5433,
			Want: diagnose.Unreachable, Reasons: []model.Reason{model.ReasonIPTablesReject, model.ReasonNetworkPolicyDenied},
		},
		"client to web-1, which no policy selects": {
			Src: "pod:default/client", Dst: "pod:default/web-1", Proto: tcp, Port: 8080,
			Want: diagnose.Reachable,
		},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			c := k3stest.TwoNodes(k3stest.VXLAN)
			recorded(t, c)
			// The fault applies to the recorded state: Run's own hook comes first.
			if fault := f.Fault; fault != nil {
				fault(c)
				f.Fault = nil
			}
			res := plugintest.Run(t, k3s.Name, c, f)
			for _, s := range res.Suspicions {
				if s.Reason == model.ReasonIPTablesReject && !strings.Contains(s.Message, "pod default/db") {
					t.Errorf("the reject does not name the pod whose chain it is: %s", s.Message)
				}
			}
		})
	}
}
