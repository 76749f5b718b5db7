package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
)

// specFile is testdata/spec-cases.yaml: connectivity cases written from the API reference.
type specFile struct {
	Cluster struct {
		Nodes      map[string]string            `json:"nodes"`
		Namespaces map[string]map[string]string `json:"namespaces"`
		Pods       map[string]specPod           `json:"pods"`
	} `json:"cluster"`
	Cases []specCase `json:"cases"`
}

type specPod struct {
	IP          string                 `json:"ip"`
	Node        string                 `json:"node"`
	HostNetwork bool                   `json:"hostNetwork"`
	Labels      map[string]string      `json:"labels"`
	Ports       []corev1.ContainerPort `json:"ports"`
}

type specCase struct {
	Name     string                       `json:"name"`
	Policies []networkingv1.NetworkPolicy `json:"policies"`
	Traffic  []specTraffic                `json:"traffic"`
}

type specTraffic struct {
	From              string         `json:"from"`
	To                string         `json:"to"`
	Protocol          model.Protocol `json:"protocol"`
	Port              uint16         `json:"port"`
	Egress            string         `json:"egress"`
	Ingress           string         `json:"ingress"`
	EgressBy          []string       `json:"egressBy"`
	IngressBy         []string       `json:"ingressBy"`
	EgressIsolatedBy  []string       `json:"egressIsolatedBy"`
	IngressIsolatedBy []string       `json:"ingressIsolatedBy"`
	LocalNode         bool           `json:"localNode"`
}

// outcome is what a traffic row checks; fields the row leaves out are copied from the
// decision so that they compare equal.
type outcome struct {
	Egress, Ingress                     string
	EgressBy, IngressBy                 []string
	EgressIsolatedBy, IngressIsolatedBy []string
	LocalNode                           bool
}

func (f *specFile) snapshot(policies []networkingv1.NetworkPolicy) *cluster.Snapshot {
	snap := &cluster.Snapshot{NetworkPolicies: policies}
	for name, ip := range f.Cluster.Nodes {
		snap.Nodes = append(snap.Nodes, makeNode(name, ip))
	}
	for name, l := range f.Cluster.Namespaces {
		var kv []string
		for k, v := range l {
			kv = append(kv, k, v)
		}
		snap.Namespaces = append(snap.Namespaces, makeNamespace(name, kv...))
	}
	for key, p := range f.Cluster.Pods {
		ns, name, _ := strings.Cut(key, "/")
		b := makePod(ns, name).ip(p.IP).node(p.Node)
		for k, v := range p.Labels {
			b.labels(k, v)
		}
		if p.HostNetwork {
			b.hostNetwork()
		}
		for _, cp := range p.Ports {
			b.port(cp.Name, cp.ContainerPort, cp.Protocol)
		}
		snap.Pods = append(snap.Pods, b.obj())
	}
	return snap
}

func (f *specFile) peer(t *testing.T, snap *cluster.Snapshot, s string) Peer {
	t.Helper()
	kind, rest, _ := strings.Cut(s, ":")
	switch kind {
	case "ip":
		return IPPeer(netip.MustParseAddr(rest))
	case "node":
		ip, ok := f.Cluster.Nodes[rest]
		if !ok {
			t.Fatalf("unknown node %q", rest)
		}
		return NodePeer(rest, netip.MustParseAddr(ip))
	}
	ns, name, _ := strings.Cut(s, "/")
	pod := snap.Pod(ns, name)
	if pod == nil {
		t.Fatalf("unknown pod %q", s)
	}
	return PodPeer(pod)
}

func word(v Verdict) string {
	switch {
	case !v.Applies:
		return "none"
	case v.Allowed:
		return "allow"
	}
	return "deny"
}

func matchNames(ms []Match) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s#%d", m.Policy, m.Rule))
	}
	return out
}

func refNames(rs []PolicyRef) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.String())
	}
	return out
}

// TestSpecCases runs the connectivity cases of testdata/spec-cases.yaml: each packet's egress
// and ingress verdicts and the policies named as deciding them.
func TestSpecCases(t *testing.T) {
	var f specFile
	readYAML(t, "testdata/spec-cases.yaml", &f)
	if _, ok := f.Cluster.Namespaces["y"]; !ok {
		t.Fatal("namespace y is missing: a bare y key reads as a boolean in YAML 1.1, quote it")
	}
	cases := map[string]specCase{}
	for _, c := range f.Cases {
		if _, dup := cases[c.Name]; dup {
			t.Fatalf("case %q is listed twice", c.Name)
		}
		cases[c.Name] = c
		checkNamespaces(t, c.Name, c.Policies)
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			snap := f.snapshot(c.Policies)
			ev := NewEvaluator(snap)
			for _, tr := range c.Traffic {
				proto := tr.Protocol
				if proto == "" {
					proto = model.TCP
				}
				d := ev.Evaluate(f.peer(t, snap, tr.From), f.peer(t, snap, tr.To), proto, tr.Port)
				got := outcome{
					Egress: word(d.Egress), Ingress: word(d.Ingress),
					EgressBy: matchNames(d.Egress.AllowedBy), IngressBy: matchNames(d.Ingress.AllowedBy),
					EgressIsolatedBy: refNames(d.Egress.IsolatedBy), IngressIsolatedBy: refNames(d.Ingress.IsolatedBy),
					LocalNode: d.Ingress.FromLocalNode,
				}
				want := outcome{Egress: tr.Egress, Ingress: tr.Ingress, LocalNode: tr.LocalNode,
					EgressBy: tr.EgressBy, IngressBy: tr.IngressBy,
					EgressIsolatedBy: tr.EgressIsolatedBy, IngressIsolatedBy: tr.IngressIsolatedBy}
				for _, f := range []struct{ want, got *[]string }{
					{&want.EgressBy, &got.EgressBy}, {&want.IngressBy, &got.IngressBy},
					{&want.EgressIsolatedBy, &got.EgressIsolatedBy}, {&want.IngressIsolatedBy, &got.IngressIsolatedBy},
				} {
					if *f.want == nil {
						*f.want = *f.got
					}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s -> %s %s/%d (-want +got):\n%s%s\n%s\nnotes: %q", tr.From, tr.To, proto, tr.Port, diff,
						d.Egress.Explain(), d.Ingress.Explain(), d.Notes)
				}
				if len(d.Notes) > 0 {
					t.Errorf("%s -> %s: unexpected notes on a valid snapshot: %q", tr.From, tr.To, d.Notes)
				}
			}
		})
	}
}
