package calico

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/policy/calico/crd"
)

// randomObjects writes seeded random tiers and policies over the world's pods.
func randomObjects(r *rand.Rand) string {
	actions := []string{"Allow", "Deny", "Pass", "Log"}
	sels := []string{"all()", "app == 'db'", "app in {'web', 'mon'}", "!has(app)", "app != 'db'", "app starts with 'm'"}
	nsSels := []string{"", "team == 'a'", "all()", "projectcalico.org/name == 'ops'"}
	rule := func() string {
		out := "\n  - action: " + actions[r.IntN(len(actions))]
		switch r.IntN(4) {
		case 0:
			out += "\n    source: {selector: \"" + sels[r.IntN(len(sels))] + "\""
			if ns := nsSels[r.IntN(len(nsSels))]; ns != "" {
				out += ", namespaceSelector: \"" + ns + "\""
			}
			out += "}"
		case 1:
			out += "\n    protocol: TCP\n    destination: {ports: [" + []string{"5432", "\"5000:6000\"", "pg", "80"}[r.IntN(4)] + "]}"
		case 2:
			out += "\n    source: {nets: [10.0." + fmt.Sprint(r.IntN(3)) + ".0/24]}"
		}
		return out
	}
	var docs []string
	for t := range 3 {
		docs = append(docs, tier(fmt.Sprintf("t%d", t), r.IntN(3)*1000, []string{"", "Pass"}[r.IntN(2)]))
	}
	for i := range 8 {
		tierName := []string{"default", "t0", "t1", "t2"}[r.IntN(4)]
		rules := ""
		for range r.IntN(3) + 1 {
			rules += rule()
		}
		body := fmt.Sprintf("\n  order: %d\n  ingress:%s", r.IntN(3), rules)
		if r.IntN(2) == 0 {
			docs = append(docs, gnp(fmt.Sprintf("%s.g%d", tierName, i), sels[r.IntN(len(sels))], "", body))
		} else {
			docs = append(docs, np([]string{"shop", "ops"}[r.IntN(2)], fmt.Sprintf("%s.n%d", tierName, i), sels[r.IntN(len(sels))], body))
		}
	}
	out := ""
	for i, d := range docs {
		if i > 0 {
			out += "\n---\n"
		}
		out += d
	}
	return out
}

// decisions evaluates ingress at every pod of the world from every pod, on two ports.
func decisions(t *testing.T, m *Model) []string {
	var out []string
	pods := [][2]string{{"shop", "web"}, {"shop", "db"}, {"ops", "mon"}, {"ops", "db"}}
	ips := []string{webIP, dbIP, monIP, opsDBIP}
	for i, dst := range pods {
		for j := range pods {
			for _, port := range []uint16{5432, 80} {
				v := m.Evaluate(at(t, m, dst[0], dst[1]), Ingress, StageNormal, tcp(ips[j], ips[i], port))
				out = append(out, fmt.Sprintf("%s->%s:%d %s %v", ips[j], ips[i], port, v.Decided.FlowLog(), v.Allowed))
			}
		}
	}
	return out
}

// TestPropertiesOnRandomPolicies: the order the objects come in changes no decision; a Log
// rule put first in every policy changes no verdict and no deciding policy.
func TestPropertiesOnRandomPolicies(t *testing.T) {
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 1))
		objs := randomObjects(r)
		m := world(t, objs)
		want := decisions(t, m)

		shuffled := world(t, objs)
		shuffled.snap.WithCalico(reversed{cluster.CalicoLists(&shuffled.snap.Calico)})
		if got := decisions(t, New(shuffled.snap)); !slices.Equal(got, want) {
			t.Fatalf("seed %d: reversing the objects changes decisions:\n%v\nwant\n%v\nobjects:\n%s", seed, got, want, objs)
		}

		logged := world(t, objs)
		for _, list := range []*[]crd.Policy{&logged.snap.Calico.NetworkPolicies, &logged.snap.Calico.GlobalNetworkPolicies} {
			for i := range *list {
				p := &(*list)[i]
				p.Spec.Ingress = append([]crd.Rule{{Action: "Log"}}, p.Spec.Ingress...)
			}
		}
		got := decisions(t, New(logged.snap))
		for i := range want {
			if verdictAndPolicy(got[i]) != verdictAndPolicy(want[i]) {
				t.Fatalf("seed %d: a Log rule first changes %s to %s\nobjects:\n%s", seed, want[i], got[i], objs)
			}
		}
	}
}

// reversed hands the objects over in the reverse of the order the lists keep, as a cache
// with no order of its own may.
type reversed struct{ cluster.CalicoObjects }

func rev[T any](s []T) []T { slices.Reverse(s); return s }

func (r reversed) CalicoTiers() []*crd.Tier { return rev(r.CalicoObjects.CalicoTiers()) }
func (r reversed) CalicoGlobalNetworkPolicies() []*crd.Policy {
	return rev(r.CalicoObjects.CalicoGlobalNetworkPolicies())
}
func (r reversed) CalicoNetworkPoliciesIn(ns string) []*crd.Policy {
	return rev(r.CalicoObjects.CalicoNetworkPoliciesIn(ns))
}

// verdictAndPolicy drops the rule index, which a rule put first shifts.
func verdictAndPolicy(s string) string {
	var pkt, flow, allowed string
	fmt.Sscan(s, &pkt, &flow, &allowed)
	for i := len(flow) - 1; i >= 0; i-- {
		if flow[i] == '|' {
			return pkt + " " + flow[:i] + " " + allowed
		}
	}
	return s
}
