package calico

import (
	"slices"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdiag/netdiag/internal/model"
)

// Each case is one packet at one workload endpoint; want is the deciding hit in flow-log
// form, and selected (when given) the policies a tier's end speaks for.
type flowCase struct {
	objects   string
	knps      []networkingv1.NetworkPolicy
	pkt       Packet
	ns, pod   string
	dir       Direction
	want      string
	allowed   bool
	selected  []string
	uncertain bool
}

const webIP, dbIP, monIP, opsDBIP = "10.0.1.10", "10.0.1.20", "10.0.2.10", "10.0.2.20"

func TestEvaluateWorkload(t *testing.T) {
	cases := map[string]flowCase{
		"no policy: the namespace profile allows": {
			pkt: tcp(webIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "__PROFILE__|__PROFILE__.kns.shop|allow|0", allowed: true},
		"a deny rule decides, named with its tier prefix": {
			objects: `
apiVersion: crd.projectcalico.org/v1
kind: NetworkPolicy
metadata: {name: default.deny-web, namespace: shop}
spec:
  selector: app == 'db'
  ingress:
  - action: Deny
    source: {selector: app == 'web'}
  - action: Allow`,
			pkt: tcp(webIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.deny-web|deny|0"},
		"a name without prefix is in the default tier": {
			objects: np("shop", "allow-web", "app == 'db'", `
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: app == 'web'}
    destination: {ports: [5432]}`),
			pkt: tcp(webIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.allow-web|allow|0", allowed: true},
		"no rule matches: the tier's end denies for the policy that selected": {
			objects: np("shop", "only-mon", "app == 'db'", `
  ingress:
  - action: Allow
    source: {selector: app == 'mon'}`),
			pkt: tcp(webIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.only-mon|deny|-1", selected: []string{"shop/default.only-mon"}},
		"a rule selector of a namespaced policy stays in its namespace": {
			objects: np("shop", "from-mon", "app == 'db'", `
  ingress:
  - action: Allow
    source: {selector: app == 'mon'}`),
			pkt: tcp(monIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.from-mon|deny|-1"},
		"namespaceSelector reaches other namespaces": {
			objects: np("shop", "from-ops", "app == 'db'", `
  ingress:
  - action: Allow
    source: {selector: app == 'mon', namespaceSelector: team == 'b'}`),
			pkt: tcp(monIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.from-ops|allow|0", allowed: true},
		"namespaceSelector all() takes every namespace": {
			objects: np("shop", "from-all", "app == 'db'", `
  ingress:
  - action: Allow
    source: {namespaceSelector: all()}`),
			pkt: tcp(monIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.from-all|allow|0", allowed: true},
		"namespaceSelector by the namespace's name": {
			objects: np("shop", "by-name", "app == 'db'", `
  ingress:
  - action: Allow
    source: {namespaceSelector: projectcalico.org/name == 'ops'}`),
			pkt: tcp(monIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.by-name|allow|0", allowed: true},
		"namespaceSelector global() takes no pod": {
			objects: gnp("default.hosts-only", "app == 'db'", "", `
  ingress:
  - action: Allow
    source: {namespaceSelector: global()}`),
			pkt: tcp(monIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|default.hosts-only|deny|-1"},
		"tiers in order: an earlier tier's deny wins over the default tier's allow": {
			objects: tier("security", 100, "") + "\n---\n" +
				gnp("security.block-web", "app == 'db'", "", `
  ingress:
  - action: Deny
    source: {selector: app == 'web'}
  - action: Pass`) + "\n---\n" + np("shop", "allow-all", "all()", `
  ingress:
  - action: Allow`),
			pkt: tcp(webIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "security|security.block-web|deny|0"},
		"Pass skips to the next tier": {
			objects: tier("security", 100, "") + "\n---\n" +
				gnp("security.block-web", "app == 'db'", "", `
  ingress:
  - action: Deny
    source: {selector: app == 'web'}
  - action: Pass`) + "\n---\n" + np("shop", "allow-all", "all()", `
  ingress:
  - action: Allow`),
			pkt: tcp(monIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.allow-all|allow|0", allowed: true},
		"Pass from the last tier goes to the profiles": {
			objects: gnp("default.pass", "all()", "", `
  ingress:
  - action: Pass`),
			pkt: tcp(monIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "__PROFILE__|__PROFILE__.kns.shop|allow|0", allowed: true},
		"a tier whose default action is Pass does not deny at its end": {
			objects: tier("audit", 50, "Pass") + "\n---\n" + gnp("audit.nothing", "all()", "", `
  ingress:
  - action: Allow
    source: {nets: [192.0.2.0/24]}`),
			pkt: tcp(monIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "__PROFILE__|__PROFILE__.kns.shop|allow|0", allowed: true},
		"a tier without order comes after the default tier": {
			objects: tier("late", -1, "") + "\n---\n" + gnp("late.deny", "all()", "", `
  ingress:
  - action: Deny`) + "\n---\n" + np("shop", "allow", "all()", `
  ingress:
  - action: Allow`),
			pkt: tcp(monIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.allow|allow|0", allowed: true},
		"policies by order within a tier, then by name": {
			objects: np("shop", "b-deny", "all()", `
  order: 10
  ingress:
  - action: Deny`) + "\n---\n" + np("shop", "a-allow", "all()", `
  order: 10
  ingress:
  - action: Allow`) + "\n---\n" + np("shop", "first", "all()", `
  order: 5
  ingress:
  - action: Log`),
			pkt: tcp(monIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.a-allow|allow|0", allowed: true},
		"a policy without order comes after ordered ones": {
			objects: np("shop", "a-unordered", "all()", `
  ingress:
  - action: Deny`) + "\n---\n" + np("shop", "z-ordered", "all()", `
  order: 1000
  ingress:
  - action: Allow`),
			pkt: tcp(monIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.z-ordered|allow|0", allowed: true},
		"Log records and goes on": {
			objects: np("shop", "log-then-deny", "all()", `
  ingress:
  - action: Log
  - action: Deny`),
			pkt: tcp(monIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.log-then-deny|deny|1"},
		"an egress-only policy does not isolate ingress": {
			objects: np("shop", "egress-only", "all()", `
  egress:
  - action: Deny`),
			pkt: tcp(monIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "__PROFILE__|__PROFILE__.kns.shop|allow|0", allowed: true},
		"an egress-only policy decides egress": {
			objects: np("shop", "egress-only", "all()", `
  egress:
  - action: Deny`),
			pkt: tcp(webIP, dbIP, 5432), ns: "shop", pod: "web", dir: Egress,
			want: "default|shop/default.egress-only|deny|0"},
		"a policy without rules and types isolates ingress": {
			objects: np("shop", "isolate", "app == 'db'", ""),
			pkt:     tcp(webIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.isolate|deny|-1"},
		"types Egress only leaves ingress open": {
			objects: np("shop", "t", "all()", `
  types: [Egress]
  ingress:
  - action: Deny`),
			pkt: tcp(monIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "__PROFILE__|__PROFILE__.kns.shop|allow|0", allowed: true},
		"ports: a range": {
			objects: np("shop", "range", "all()", `
  ingress:
  - action: Allow
    protocol: TCP
    destination: {ports: ["5000:6000"]}`),
			pkt: tcp(webIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.range|allow|0", allowed: true},
		"ports: outside the range": {
			objects: np("shop", "range", "all()", `
  ingress:
  - action: Allow
    protocol: TCP
    destination: {ports: ["5000:6000"]}`),
			pkt: tcp(webIP, dbIP, 80), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.range|deny|-1"},
		"ports: a named port of the destination pod": {
			objects: np("shop", "named", "all()", `
  ingress:
  - action: Allow
    protocol: TCP
    destination: {ports: [pg]}`),
			pkt: tcp(webIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.named|allow|0", allowed: true},
		"ports: a named port on another number": {
			objects: np("shop", "named", "all()", `
  ingress:
  - action: Allow
    protocol: TCP
    destination: {ports: [pg]}`),
			pkt: tcp(webIP, dbIP, 5433), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.named|deny|-1"},
		"notPorts": {
			objects: np("shop", "not22", "all()", `
  ingress:
  - action: Allow
    protocol: TCP
    destination: {notPorts: [22, "8000:8100"]}`),
			pkt: tcp(webIP, dbIP, 8080), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.not22|deny|-1"},
		"ports need a protocol with ports": {
			objects: np("shop", "p", "all()", `
  ingress:
  - action: Allow
    destination: {ports: [0]}`),
			pkt: proto(model.ICMP, webIP, dbIP, 0), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.p|deny|-1"},
		"protocol by number": {
			objects: np("shop", "udp", "all()", `
  ingress:
  - action: Allow
    protocol: 17`),
			pkt: proto(model.UDP, webIP, dbIP, 53), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.udp|allow|0", allowed: true},
		"notProtocol": {
			objects: np("shop", "no-udp", "all()", `
  ingress:
  - action: Allow
    notProtocol: UDP`),
			pkt: proto(model.UDP, webIP, dbIP, 53), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.no-udp|deny|-1"},
		"ICMP type: echo request": {
			objects: np("shop", "ping", "all()", `
  ingress:
  - action: Allow
    protocol: ICMP
    icmp: {type: 8, code: 0}`),
			pkt: proto(model.ICMP, webIP, dbIP, 0), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.ping|allow|0", allowed: true},
		"ICMP type: only echo reply allowed": {
			objects: np("shop", "pong", "all()", `
  ingress:
  - action: Allow
    protocol: ICMP
    icmp: {type: 0}`),
			pkt: proto(model.ICMP, webIP, dbIP, 0), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.pong|deny|-1"},
		"notICMP": {
			objects: np("shop", "no-ping", "all()", `
  ingress:
  - action: Allow
    protocol: ICMP
    notICMP: {type: 8}`),
			pkt: proto(model.ICMP, webIP, dbIP, 0), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.no-ping|deny|-1"},
		"nets and notNets": {
			objects: np("shop", "nets", "all()", `
  ingress:
  - action: Allow
    source: {nets: [10.0.0.0/16], notNets: [10.0.1.0/24]}`),
			pkt: tcp(webIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.nets|deny|-1"},
		"nets alone are not limited to the namespace": {
			objects: np("shop", "nets", "all()", `
  ingress:
  - action: Allow
    source: {nets: [10.0.2.0/24]}`),
			pkt: tcp(monIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.nets|allow|0", allowed: true},
		"notSelector": {
			objects: np("shop", "not-web", "all()", `
  ingress:
  - action: Allow
    source: {notSelector: app == 'web'}`),
			pkt: tcp(webIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.not-web|deny|-1"},
		"serviceAccounts by name": {
			objects: np("shop", "sa", "all()", `
  ingress:
  - action: Allow
    source: {serviceAccounts: {names: [sa-web]}}`),
			pkt: tcp(webIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.sa|allow|0", allowed: true},
		"serviceAccounts: another name": {
			objects: np("shop", "sa", "all()", `
  ingress:
  - action: Allow
    source: {serviceAccounts: {names: [sa-db]}}`),
			pkt: tcp(webIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.sa|deny|-1"},
		"serviceAccountSelector of the policy": {
			objects: np("shop", "for-sa", "all()", `
  serviceAccountSelector: projectcalico.org/name == 'sa-db'
  ingress:
  - action: Deny`),
			pkt: tcp(webIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.for-sa|deny|0"},
		"a global policy's namespaceSelector limits where it applies": {
			objects: gnp("default.ops-only", "all()", "team == 'b'", `
  ingress:
  - action: Deny`),
			pkt: tcp(monIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "__PROFILE__|__PROFILE__.kns.shop|allow|0", allowed: true},
		"a NetworkSet's nets are selected by its labels": {
			objects: `
apiVersion: crd.projectcalico.org/v1
kind: GlobalNetworkSet
metadata: {name: bad-range, labels: {feed: blocked}}
spec: {nets: [192.0.2.0/24]}
---
` + gnp("default.block-feed", "all()", "", `
  egress:
  - action: Deny
    destination: {selector: feed == 'blocked'}
  - action: Allow`),
			pkt: tcp(webIP, "192.0.2.7", 443), ns: "shop", pod: "web", dir: Egress,
			want: "default|default.block-feed|deny|0"},
		"a namespaced NetworkSet only for its namespace's policies": {
			objects: `
apiVersion: crd.projectcalico.org/v1
kind: NetworkSet
metadata: {name: partners, namespace: ops, labels: {kind: partner}}
spec: {nets: [198.51.100.0/24]}
---
` + np("shop", "to-partners", "all()", `
  egress:
  - action: Allow
    destination: {selector: kind == 'partner'}`),
			pkt: tcp(webIP, "198.51.100.1", 443), ns: "shop", pod: "web", dir: Egress,
			want: "default|shop/default.to-partners|deny|-1"},
		"an HTTP match is not evaluated and makes the verdict uncertain": {
			objects: np("shop", "l7", "all()", `
  ingress:
  - action: Allow
    http: {methods: [GET]}`),
			pkt: tcp(webIP, dbIP, 80), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.l7|deny|-1", uncertain: true},
		"a Kubernetes NetworkPolicy is knp.default.<name> in the default tier": {
			knps: []networkingv1.NetworkPolicy{knp("shop", "db-from-mon", map[string]string{"app": "db"},
				networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "mon"}}}}})},
			pkt: tcp(webIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/knp.default.db-from-mon|deny|-1", selected: []string{"shop/knp.default.db-from-mon"}},
		"a Kubernetes NetworkPolicy allows by its converted rule": {
			knps: []networkingv1.NetworkPolicy{knp("shop", "db-ports", map[string]string{"app": "db"},
				networkingv1.NetworkPolicyIngressRule{Ports: []networkingv1.NetworkPolicyPort{
					{Protocol: ptr(corev1.ProtocolUDP), Port: ptr(intstr.FromInt32(53))},
					{Port: ptr(intstr.FromString("pg"))}}})},
			pkt: tcp(webIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			// Protocols in order: TCP's rule is 0, UDP's 1.
			want: "default|shop/knp.default.db-ports|allow|0", allowed: true},
		"a Calico policy of order 10 decides before a Kubernetes one (1000)": {
			objects: np("shop", "early", "all()", `
  order: 10
  ingress:
  - action: Deny
    source: {selector: app == 'web'}`),
			knps: []networkingv1.NetworkPolicy{knp("shop", "allow-all", nil, networkingv1.NetworkPolicyIngressRule{})},
			pkt:  tcp(webIP, dbIP, 5432), ns: "shop", pod: "db", dir: Ingress,
			want: "default|shop/default.early|deny|0"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m := world(t, tc.objects, tc.knps...)
			v := m.Evaluate(at(t, m, tc.ns, tc.pod), tc.dir, StageNormal, tc.pkt)
			if got := v.Decided.FlowLog(); got != tc.want || v.Allowed != tc.allowed {
				t.Errorf("decided %s (allowed %v), want %s (allowed %v)\ntrace: %s\nuncertain: %v", got, v.Allowed, tc.want, tc.allowed, traceOf(v), v.Uncertain)
			}
			if tc.selected != nil {
				var got []string
				for _, id := range v.Selected {
					got = append(got, id.String())
				}
				if !slices.Equal(got, tc.selected) {
					t.Errorf("selected %v, want %v", got, tc.selected)
				}
			}
			if (len(v.Uncertain) > 0) != tc.uncertain {
				t.Errorf("uncertain = %v, want uncertain %v", v.Uncertain, tc.uncertain)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func np(namespace, name, sel, rest string) string {
	return "apiVersion: crd.projectcalico.org/v1\nkind: NetworkPolicy\nmetadata: {name: " + name + ", namespace: " + namespace + "}\nspec:\n  selector: " + sel + rest
}

func gnp(name, sel, nsSel, rest string) string {
	out := "apiVersion: crd.projectcalico.org/v1\nkind: GlobalNetworkPolicy\nmetadata: {name: " + name + "}\nspec:\n  selector: " + sel
	if nsSel != "" {
		out += "\n  namespaceSelector: " + nsSel
	}
	return out + rest
}

func tier(name string, order int, defaultAction string) string {
	out := "apiVersion: crd.projectcalico.org/v1\nkind: Tier\nmetadata: {name: " + name + "}\nspec: {"
	if order >= 0 {
		out += "order: " + itoa(order)
		if defaultAction != "" {
			out += ", "
		}
	}
	if defaultAction != "" {
		out += "defaultAction: " + defaultAction
	}
	return out + "}"
}

func itoa(n int) string { return strconv.Itoa(n) }

func knp(namespace, name string, sel map[string]string, ingress ...networkingv1.NetworkPolicyIngressRule) networkingv1.NetworkPolicy {
	return networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: sel}, Ingress: ingress,
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
}
