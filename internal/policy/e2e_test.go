package policy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
)

// e2eFile is testdata/e2e-netpol.yaml: the upstream e2e NetworkPolicy suite as data.
type e2eFile struct {
	Model struct {
		PodIPs map[string]string `json:"podIPs"`
	} `json:"model"`
	Cases []e2eCase `json:"cases"`
}

type e2eCase struct {
	Name            string                       `json:"name"`
	Upstream        string                       `json:"upstream"`
	Pods            []string                     `json:"pods"`
	Ports           []int32                      `json:"ports"`
	Protocols       []corev1.Protocol            `json:"protocols"`
	NamespaceLabels map[string]map[string]string `json:"namespaceLabels"`
	PodLabels       map[string]map[string]string `json:"podLabels"`
	Policies        []networkingv1.NetworkPolicy `json:"policies"`
	Expect          []e2eProbe                   `json:"expect"`
}

type e2eProbe struct {
	Port         uint16         `json:"port"`
	Protocol     model.Protocol `json:"protocol"`
	Reachability string         `json:"reachability"`
}

// snapshot builds the upstream model for the case: namespaces x, y, z, the listed pods
// labelled pod=<name>, each with a container port serve-<port>-<protocol> per port and
// protocol of the case.
func (c *e2eCase) snapshot(t *testing.T, ips map[string]string) (*cluster.Snapshot, map[string]*corev1.Pod) {
	t.Helper()
	snap := &cluster.Snapshot{NetworkPolicies: c.Policies}
	for _, ns := range []string{"x", "y", "z"} {
		n := makeNamespace(ns)
		for k, v := range c.NamespaceLabels[ns] {
			n.Labels[k] = v
		}
		snap.Namespaces = append(snap.Namespaces, n)
	}
	for _, p := range c.Pods {
		ns, name, ok := strings.Cut(p, "/")
		if !ok || ips[p] == "" {
			t.Fatalf("pod %q: want ns/name with an IP in model.podIPs", p)
		}
		b := makePod(ns, name).labels("pod", name).ip(ips[p]).node("node-1")
		for k, v := range c.PodLabels[p] {
			b.labels(k, v)
		}
		for _, proto := range c.Protocols {
			for _, port := range c.Ports {
				b.port(fmt.Sprintf("serve-%d-%s", port, strings.ToLower(string(proto))), port, proto)
			}
		}
		snap.Pods = append(snap.Pods, b.obj())
	}
	pods := map[string]*corev1.Pod{}
	for i := range snap.Pods {
		pods[snap.Pods[i].Namespace+"/"+snap.Pods[i].Name] = &snap.Pods[i]
	}
	return snap, pods
}

// TestUpstreamE2E runs every truth table of the Kubernetes e2e NetworkPolicy suite through
// the evaluator: for each probed port and protocol, every client x server pair.
func TestUpstreamE2E(t *testing.T) {
	var f e2eFile
	readYAML(t, "testdata/e2e-netpol.yaml", &f)
	upstream := map[string]bool{}
	for _, c := range f.Cases {
		upstream[c.Upstream] = true
	}
	if len(upstream) != 49 {
		t.Fatalf("testdata covers %d upstream tests, want all 49 truth-table tests of the suite", len(upstream))
	}
	seen := map[string]bool{}
	for _, c := range f.Cases {
		if seen[c.Name] {
			t.Fatalf("case %q is listed twice", c.Name)
		}
		seen[c.Name] = true
		checkNamespaces(t, c.Name, c.Policies)
		t.Run(c.Name, func(t *testing.T) {
			snap, pods := c.snapshot(t, f.Model.PodIPs)
			ev := NewEvaluator(snap)
			for _, probe := range c.Expect {
				decide := func(from, to string) Decision {
					return ev.Evaluate(PodPeer(pods[from]), PodPeer(pods[to]), probe.Protocol, probe.Port)
				}
				got := matrix(c.Pods, func(from, to string) bool { return decide(from, to).Allowed })
				if diff := cmp.Diff(probe.Reachability, got); diff != "" {
					t.Errorf("%s/%d reachability (-want +got):\n%s\nwhy:\n%s", probe.Protocol, probe.Port, diff, explainAll(c.Pods, decide))
				}
			}
		})
	}
}

func explainAll(pods []string, decide func(from, to string) Decision) string {
	var b strings.Builder
	for _, from := range pods {
		for _, to := range pods {
			if from == to {
				continue
			}
			d := decide(from, to)
			fmt.Fprintf(&b, "  %s -> %s: allowed=%t; %s; %s\n", from, to, d.Allowed, d.Egress.Explain(), d.Ingress.Explain())
		}
	}
	return b.String()
}
