package policy

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
)

// adminCluster is x/a (10.0.0.1 on node-1) and y/b (10.0.1.1 on node-2), a host-network pod
// y/h on node-2, and the objects of the case, written as a user writes them.
func adminCluster(t *testing.T, docs string) *cluster.Snapshot {
	t.Helper()
	snap := &cluster.Snapshot{
		Namespaces: []corev1.Namespace{makeNamespace("x", "team", "a"), makeNamespace("y", "team", "b")},
		Pods: []corev1.Pod{
			makePod("x", "a").labels("app", "a").ip("10.0.0.1").node("node-1").port("web", 8080, "TCP").obj(),
			makePod("y", "b").labels("app", "b").ip("10.0.1.1").node("node-2").port("web", 80, "TCP").obj(),
			makePod("y", "h").labels("app", "h").ip("192.168.0.2").node("node-2").hostNetwork().obj(),
		},
	}
	for i, name := range []string{"node-1", "node-2"} {
		n := makeNode(name, []string{"192.168.0.1", "192.168.0.2"}[i])
		n.Labels = map[string]string{"role": []string{"worker", "infra"}[i]}
		snap.Nodes = append(snap.Nodes, n)
	}
	for _, doc := range strings.Split(docs, "\n---\n") {
		var tm struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatal(err)
		}
		var err error
		switch tm.Kind {
		case "AdminNetworkPolicy":
			snap.Admin.AdminNetworkPolicies = append(snap.Admin.AdminNetworkPolicies, cluster.AdminNetworkPolicy{})
			err = yaml.UnmarshalStrict([]byte(doc), &snap.Admin.AdminNetworkPolicies[len(snap.Admin.AdminNetworkPolicies)-1])
		case "BaselineAdminNetworkPolicy":
			snap.Admin.BaselineAdminNetworkPolicies = append(snap.Admin.BaselineAdminNetworkPolicies, cluster.BaselineAdminNetworkPolicy{})
			err = yaml.UnmarshalStrict([]byte(doc), &snap.Admin.BaselineAdminNetworkPolicies[len(snap.Admin.BaselineAdminNetworkPolicies)-1])
		case "ClusterNetworkPolicy":
			snap.Admin.ClusterNetworkPolicies = append(snap.Admin.ClusterNetworkPolicies, cluster.ClusterNetworkPolicy{})
			err = yaml.UnmarshalStrict([]byte(doc), &snap.Admin.ClusterNetworkPolicies[len(snap.Admin.ClusterNetworkPolicies)-1])
		case "NetworkPolicy":
			snap.NetworkPolicies = append(snap.NetworkPolicies, policyYAML(t, doc))
		default:
			t.Fatalf("kind %q", tm.Kind)
		}
		if err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
	}
	return snap
}

const (
	denyYToXIngress = `kind: AdminNetworkPolicy
metadata: {name: deny-y}
spec:
  priority: 10
  subject: {namespaces: {matchLabels: {team: a}}}
  ingress:
  - {name: keep-web, action: Allow, from: [{namespaces: {matchLabels: {team: b}}}], ports: [{portNumber: {protocol: TCP, port: 8080}}]}
  - {name: no-y, action: Deny, from: [{namespaces: {matchLabels: {team: b}}}]}`
	passYToX = `kind: AdminNetworkPolicy
metadata: {name: pass-y}
spec:
  priority: 5
  subject: {namespaces: {matchLabels: {team: a}}}
  ingress:
  - {name: to-teams, action: Pass, from: [{namespaces: {}}]}`
	baselineDeny = `kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  ingress:
  - {name: default-deny, action: Deny, from: [{namespaces: {}}]}`
	npAllowFromY = `kind: NetworkPolicy
metadata: {name: from-y, namespace: x}
spec:
  podSelector: {}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: b}}}]`
	npIsolateX = `kind: NetworkPolicy
metadata: {name: isolate, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]`
)

func TestAdminTiers(t *testing.T) {
	for name, c := range map[string]struct {
		objects string
		port    uint16
		proto   model.Protocol
		// dst is the destination: a pod (ns/name) or an address.
		src, dst  string
		allowed   bool
		decidedBy Tier
		reason    model.Reason
		rule      string
		note      string
		// unsure is set when the denial rests on a rule the snapshot cannot match.
		unsure bool
	}{
		"an admin Deny overrides the NetworkPolicy that allows": {
			objects: denyYToXIngress + "\n---\n" + npAllowFromY, src: "y/b", dst: "x/a", port: 9000,
			decidedBy: DecidedByAdmin, reason: model.ReasonAdminNetworkPolicyDenied,
			rule: `AdminNetworkPolicy deny-y (admin tier, priority 10), ingress rule 1 "no-y"`,
		},
		"the first matching rule decides: an Allow before the Deny": {
			objects: denyYToXIngress, src: "y/b", dst: "x/a", port: 8080, allowed: true, decidedBy: DecidedByAdmin,
		},
		"an admin Allow overrides the NetworkPolicy that isolates": {
			objects: denyYToXIngress + "\n---\n" + npIsolateX, src: "y/b", dst: "x/a", port: 8080, allowed: true, decidedBy: DecidedByAdmin,
		},
		"a lower priority number decides first: Pass goes to NetworkPolicy": {
			objects: denyYToXIngress + "\n---\n" + passYToX + "\n---\n" + npAllowFromY, src: "y/b", dst: "x/a", port: 9000,
			allowed: true, decidedBy: DecidedByNetworkPolicy,
		},
		"NetworkPolicy that isolates decides before the baseline": {
			objects: baselineDeny + "\n---\n" + npAllowFromY, src: "y/b", dst: "x/a", port: 9000, allowed: true, decidedBy: DecidedByNetworkPolicy,
		},
		"the baseline denies where no NetworkPolicy isolates": {
			objects: baselineDeny, src: "y/b", dst: "x/a", port: 9000, decidedBy: DecidedByBaseline,
			reason: model.ReasonBaselineAdminNetworkPolicyDenied, rule: `BaselineAdminNetworkPolicy default, ingress rule 0 "default-deny"`,
		},
		"Pass then the baseline": {
			objects: passYToX + "\n---\n" + baselineDeny, src: "y/b", dst: "x/a", port: 9000, decidedBy: DecidedByBaseline,
			reason: model.ReasonBaselineAdminNetworkPolicyDenied,
		},
		"host-network pods are no subject": {
			objects: baselineDeny, src: "x/a", dst: "y/h", port: 9000, allowed: true,
		},
		"a nodes peer matches the node by its labels": {
			objects: `kind: ClusterNetworkPolicy
metadata: {name: no-workers}
spec:
  tier: Admin
  priority: 1
  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: a}}}}
  egress:
  - {action: Deny, to: [{nodes: {matchLabels: {role: infra}}}], protocols: [{udp: {destinationPort: {range: {start: 50, end: 60}}}}]}`,
			src: "x/a", dst: "192.168.0.2", proto: model.UDP, port: 53, decidedBy: DecidedByAdmin,
			reason: model.ReasonAdminNetworkPolicyDenied, rule: `ClusterNetworkPolicy no-workers (admin tier, priority 1), egress rule 0`,
		},
		"a networks peer matches an address outside": {
			objects: `kind: ClusterNetworkPolicy
metadata: {name: no-internet}
spec:
  tier: Baseline
  priority: 1
  subject: {namespaces: {}}
  egress:
  - {name: internet, action: Deny, to: [{networks: [0.0.0.0/0]}]}`,
			src: "x/a", dst: "8.8.8.8", port: 443, decidedBy: DecidedByBaseline, reason: model.ReasonBaselineAdminNetworkPolicyDenied,
		},
		"a peer of no known field fails closed in a Deny rule": {
			objects: `kind: AdminNetworkPolicy
metadata: {name: newer}
spec:
  priority: 1
  subject: {namespaces: {}}
  ingress:
  - {action: Deny, from: [{}]}`,
			src: "y/b", dst: "x/a", port: 80, decidedBy: DecidedByAdmin, reason: model.ReasonAdminNetworkPolicyDenied,
			note: "sets 0 fields where the API wants exactly one; it fails closed",
		},
		"a peer of no known field matches nothing in an Allow rule": {
			objects: `kind: AdminNetworkPolicy
metadata: {name: newer}
spec:
  priority: 1
  subject: {namespaces: {}}
  ingress:
  - {action: Allow, from: [{}]}` + "\n---\n" + npIsolateX,
			src: "y/b", dst: "x/a", port: 80, decidedBy: DecidedByNetworkPolicy, reason: model.ReasonNetworkPolicyDenied,
		},
		"domain names cannot be told from an address": {
			objects: `kind: AdminNetworkPolicy
metadata: {name: dns}
spec:
  priority: 1
  subject: {namespaces: {}}
  egress:
  - {action: Allow, to: [{domainNames: [example.com]}]}
  - {action: Deny, to: [{networks: [0.0.0.0/0]}]}`,
			src: "x/a", dst: "93.184.215.14", port: 443, decidedBy: DecidedByAdmin, reason: model.ReasonAdminNetworkPolicyDenied,
			note:   "domain names example.com, which the snapshot cannot tell from address 93.184.215.14",
			unsure: true,
		},
		"two policies of one priority that disagree": {
			objects: `kind: AdminNetworkPolicy
metadata: {name: a-allow}
spec:
  priority: 7
  subject: {namespaces: {}}
  ingress:
  - {action: Allow, from: [{namespaces: {}}]}
---
kind: AdminNetworkPolicy
metadata: {name: b-deny}
spec:
  priority: 7
  subject: {namespaces: {}}
  ingress:
  - {action: Deny, from: [{namespaces: {}}]}`,
			src: "y/b", dst: "x/a", port: 80, allowed: true, decidedBy: DecidedByAdmin, note: "have the same priority and both match",
		},
		"a named port is the destination pod's": {
			objects: `kind: ClusterNetworkPolicy
metadata: {name: web}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {matchLabels: {team: a}}}
  ingress:
  - {action: Accept, from: [{namespaces: {}}], protocols: [{destinationNamedPort: web}]}
  - {action: Deny, from: [{namespaces: {}}]}`,
			src: "y/b", dst: "x/a", port: 8080, allowed: true, decidedBy: DecidedByAdmin,
		},
	} {
		t.Run(name, func(t *testing.T) {
			snap := adminCluster(t, c.objects)
			src, dst := adminPeer(t, snap, c.src), adminPeer(t, snap, c.dst)
			proto := c.proto
			if proto == "" {
				proto = model.TCP
			}
			d := NewEvaluator(snap).Evaluate(src, dst, proto, c.port)
			why := "\n  " + d.Egress.Explain() + "\n  " + d.Ingress.Explain()
			if d.Allowed != c.allowed {
				t.Errorf("allowed = %t, want %t%s", d.Allowed, c.allowed, why)
			}
			decided := d.Ingress.Tiers.DecidedBy
			if !d.Egress.Allowed || d.Egress.Tiers.DecidedBy != DecidedByNone {
				decided = d.Egress.Tiers.DecidedBy
			}
			if decided != c.decidedBy {
				t.Errorf("decided by %q, want %q%s", decided, c.decidedBy, why)
			}
			sus := Suspicions(d, src, dst, true)
			switch {
			case c.reason == "" && len(sus) > 0:
				t.Errorf("suspicions %+v, want none", sus)
			case c.reason != "" && (len(sus) != 1 || sus[0].Reason != c.reason):
				t.Errorf("suspicions %+v, want one %s", sus, c.reason)
			case c.rule != "" && sus[0].Rule != c.rule:
				t.Errorf("rule %q, want %q", sus[0].Rule, c.rule)
			}
			if unsure := d.Egress.Tiers.Unsure != "" || d.Ingress.Tiers.Unsure != ""; unsure != c.unsure {
				t.Errorf("unsure = %t, want %t (%q, %q)", unsure, c.unsure, d.Egress.Tiers.Unsure, d.Ingress.Tiers.Unsure)
			}
			if c.note != "" && !slices.ContainsFunc(d.Notes, func(n string) bool { return strings.Contains(n, c.note) }) {
				t.Errorf("notes %q, want one saying %q", d.Notes, c.note)
			}
			if !d.Allowed {
				for _, s := range Steps(d, "src", "dst", model.Packet{}) {
					if s.Action == "drop" && !strings.HasPrefix(s.Detail, d.Denied()[0].Source()+" ") {
						t.Errorf("step %q does not start with what decided, %s", s.Detail, d.Denied()[0].Source())
					}
				}
			}
			// Without the tiers, as a plugin that does not enforce them, NetworkPolicy alone decides.
			np := NewEvaluator(snap).EvaluateNetworkPolicyOnly(src, dst, proto, c.port)
			if np.Egress.Tiers.Evaluated || np.Ingress.Tiers.Evaluated {
				t.Errorf("EvaluateNetworkPolicyOnly evaluated the tiers")
			}
		})
	}
}

func adminPeer(t *testing.T, snap *cluster.Snapshot, ref string) Peer {
	t.Helper()
	if ns, name, ok := strings.Cut(ref, "/"); ok {
		p, err := PeerFor(snap, model.Endpoint{Type: model.EndpointPod, Namespace: ns, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p, err := PeerFor(snap, model.Endpoint{Type: model.EndpointExternal, IP: netip.MustParseAddr(ref)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The API's first release (v0.1.1) wrote a peer's namespaces as a namespaceSelector, or as
// sameLabels and notSameLabels: the first is read, the others fail closed. A NetworkPolicy
// allows from y, so whatever the admin tier does not decide is allowed by NetworkPolicy.
func TestAdminPeersOfTheFirstRelease(t *testing.T) {
	for name, c := range map[string]struct {
		peer    string
		action  string
		allowed bool
	}{
		"namespaceSelector that matches the source denies":           {peer: `{namespaces: {namespaceSelector: {matchLabels: {team: b}}}}`, action: "Deny"},
		"namespaceSelector that does not match lets through":         {peer: `{namespaces: {namespaceSelector: {matchLabels: {team: c}}}}`, action: "Deny", allowed: true},
		"pods with namespaces.namespaceSelector that does not match": {peer: `{pods: {namespaces: {namespaceSelector: {matchLabels: {team: c}}}, podSelector: {}}}`, action: "Deny", allowed: true},
		"sameLabels in a Deny rule denies everything":                {peer: `{namespaces: {sameLabels: [team]}}`, action: "Deny"},
		"sameLabels in an Allow rule allows nothing":                 {peer: `{namespaces: {sameLabels: [team]}}`, action: "Allow", allowed: true},
	} {
		t.Run(name, func(t *testing.T) {
			snap := adminCluster(t, `kind: AdminNetworkPolicy
metadata: {name: old}
spec:
  priority: 1
  subject: {namespaces: {matchLabels: {team: a}}}
  ingress:
  - {action: `+c.action+`, from: [`+c.peer+`]}`+"\n---\n"+npAllowFromY)
			d := NewEvaluator(snap).Evaluate(adminPeer(t, snap, "y/b"), adminPeer(t, snap, "x/a"), model.TCP, 80)
			if d.Allowed != c.allowed {
				t.Errorf("allowed = %t, want %t\n  %s", d.Allowed, c.allowed, d.Ingress.Explain())
			}
			if c.action == "Allow" && d.Ingress.Tiers.DecidedBy != DecidedByNetworkPolicy {
				t.Errorf("an Allow rule that fails closed matched: %s", d.Ingress.Explain())
			}
		})
	}
}
