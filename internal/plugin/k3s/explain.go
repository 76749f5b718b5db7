package k3s

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/netdiag/netdiag/internal/netstack/nf"
	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/plugin/hop"
)

// explainer puts a drop by one of kube-router's chains in its words.
type explainer struct {
	plugin *Plugin
	node   string
}

var (
	chainOf = regexp.MustCompile(`-A (KUBE-(?:POD-FW|NWPLCY|ROUTER)-\S+)`)
	// podOf reads the pod a pod chain's rule names: "... POD name:db namespace: default".
	podOf = regexp.MustCompile(`POD name:(\S+) namespace: ([^\s"]+)`)
)

// explainDrop names the chain and the pod whose policies rejected the packet, and records
// the NetworkPolicies that deny it in that direction; other rules keep the shared message.
func (e explainer) explainDrop(h *plugin.Hop, _ nf.Hook, o *nf.Outcome) string {
	if hop.RulesetName(o) != nf.IPTables {
		return ""
	}
	rule := hop.Decider(o)
	m := chainOf.FindStringSubmatch(rule)
	if m == nil {
		return ""
	}
	chain := m[1]
	what := "kube-router's NetworkPolicy rules"
	if p := podOf.FindStringSubmatch(rule); p != nil && strings.HasPrefix(chain, PodChainPrefix) {
		name, ns := p[1], p[2]
		dir := "egress"
		if pod := h.Env.Cluster.Pod(ns, name); pod != nil && pod.Status.PodIP == h.Packet.Dst.String() {
			dir = "ingress"
		}
		what = fmt.Sprintf("the firewall of pod %s/%s: no NetworkPolicy that selects it allows this %s", ns, name, dir)
		if strings.Contains(rule, "INVALID") {
			what = fmt.Sprintf("the firewall of pod %s/%s: conntrack finds the packet INVALID", ns, name)
		} else {
			plugin.RecordPolicyDenials(h, "kube-router", dir, "stale rules (kube-router rewrites its chains on every change it sees and on its periodic sync)")
		}
	}
	verb := "drops"
	if strings.Contains(rule, "-j REJECT") {
		verb = "rejects"
	}
	return fmt.Sprintf("Kube-router's chain %s (%s) on %s %s the packet: %s", chain, what, e.node, verb, rule)
}
