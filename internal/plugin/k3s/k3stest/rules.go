package k3stest

import (
	"fmt"
	"strings"

	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/fixture/ruleset"
	"github.com/netdiag/netdiag/internal/plugin/k3s"
)

// The order kube-router's controller writes its top-level chains in.
var topLevel = []struct{ builtin, chain, uuid string }{
	{"INPUT", k3s.InputChain, "4IA2OSFRMVNDXBVV"},
	{"FORWARD", k3s.ForwardChain, "TEMCG2JMHZYE7H7T"},
	{"OUTPUT", k3s.OutputChain, "VEAAIY32XVBHCSCY"},
}

// AddRules adds what kube-router's netpol controller writes on a node whose local pods
// are pods, none of them selected by a policy: its top-level chains first in the built-in
// ones, the returns for service and node-port traffic, each pod's firewall chain through
// KUBE-NWPLCY-DEFAULT, and the explicit accept of what the pods' chains passed.
func AddRules(t *ruleset.Tables, pods []*fixture.Pod) {
	for _, c := range topLevel {
		t.Chain("filter", c.chain)
	}
	t.Chain("filter", k3s.DefaultChain)
	for _, c := range topLevel {
		t.Rule("filter", `%s -m comment --comment "kube-router netpol - %s" -j %s`, c.builtin, c.uuid, c.chain)
	}
	t.Rule("filter", `%s -m comment --comment "rule to mark traffic matching a network policy" -j MARK --set-xmark %s`, k3s.DefaultChain, k3s.PolicyMark)
	t.Rule("filter", `%s -d 10.96.0.0/12 -m comment --comment "allow traffic to primary/secondary cluster IP range - BVHX2PIHDXXEO43X" -j RETURN`, k3s.InputChain)
	t.Rule("filter", `%s -p tcp -m comment --comment "allow LOCAL TCP traffic to node ports - LR7XO7NXDBGQJD2M" -m addrtype --dst-type LOCAL -m multiport --dports 30000:32767 -j RETURN`, k3s.InputChain)
	t.Rule("filter", `%s -p udp -m comment --comment "allow LOCAL UDP traffic to node ports - 76UCBPIZNGJNWNUZ" -m addrtype --dst-type LOCAL -m multiport --dports 30000:32767 -j RETURN`, k3s.InputChain)
	for _, p := range pods {
		addPod(t, p)
	}
	for _, c := range topLevel {
		t.Rule("filter", `%s -m comment --comment "rule to explicitly ACCEPT traffic that comply to network policies" -m mark --mark 0x20000/0x20000 -j ACCEPT`, c.chain)
	}
}

// addPod writes the jumps to p's firewall chain and the chain, through the default policy
// chain in both directions.
func addPod(t *ruleset.Tables, p *fixture.Pod) {
	fw, ip := PodChain(p.Namespace, p.Name), p.IP.String()
	who := fmt.Sprintf("POD name:%s namespace: %s", p.Name, p.Namespace)
	t.Chain("filter", fw)
	t.Rule("filter", `%s -d %s/32 -m comment --comment "rule to jump traffic destined to %s to chain %s" -j %s`, k3s.ForwardChain, ip, who, fw, fw)
	t.Rule("filter", `%s -d %s/32 -m comment --comment "rule to jump traffic destined to %s to chain %s" -j %s`, k3s.OutputChain, ip, who, fw, fw)
	t.Rule("filter", `%s -d %s/32 -m physdev --physdev-is-bridged -m comment --comment "rule to jump traffic destined to %s to chain %s" -j %s`, k3s.ForwardChain, ip, who, fw, fw)
	for _, c := range topLevel {
		t.Rule("filter", `%s -s %s/32 -m comment --comment "rule to jump traffic from %s to chain %s" -j %s`, c.chain, ip, who, fw, fw)
	}
	t.Rule("filter", `%s -s %s/32 -m physdev --physdev-is-bridged -m comment --comment "rule to jump traffic from %s to chain %s" -j %s`, k3s.ForwardChain, ip, who, fw, fw)
	writePodChain(t, p)
}

// writePodChain writes p's firewall chain: the stateful rules, the node's own traffic,
// the default policy chain in both directions (no policy selects p), then the reject of
// what nothing marked.
func writePodChain(t *ruleset.Tables, p *fixture.Pod) {
	fw, ip := PodChain(p.Namespace, p.Name), p.IP.String()
	who := fmt.Sprintf("POD name:%s namespace: %s", p.Name, p.Namespace)
	t.Rule("filter", `%s -m comment --comment "rule for stateful firewall for pod" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`, fw)
	t.Rule("filter", `%s -m comment --comment "rule to drop invalid state for pod" -m conntrack --ctstate INVALID -j DROP`, fw)
	t.Rule("filter", `%s -d %s/32 -m comment --comment "rule to permit the traffic traffic to pods when source is the pod\'s local node" -m addrtype --src-type LOCAL -j ACCEPT`, fw, ip)
	t.Rule("filter", `%s -s %s/32 -m comment --comment "run through default egress network policy chain" -j %s`, fw, ip, k3s.DefaultChain)
	t.Rule("filter", `%s -d %s/32 -m comment --comment "run through default ingress network policy chain" -j %s`, fw, ip, k3s.DefaultChain)
	t.Rule("filter", `%s -m comment --comment "rule to log dropped traffic %s" -m mark ! --mark %s -m limit --limit 10/min --limit-burst 10 -j NFLOG --nflog-group 100`, fw, who, k3s.PolicyMark)
	t.Rule("filter", `%s -m comment --comment "rule to REJECT traffic destined for %s" -m mark ! --mark %s -j REJECT --reject-with icmp-port-unreachable`, fw, who, k3s.PolicyMark)
	t.Rule("filter", `%s -j MARK --set-xmark 0x0/0x10000`, fw)
	t.Rule("filter", `%s -m comment --comment "set mark to ACCEPT traffic that comply to network policies" -j MARK --set-xmark 0x20000/0x20000`, fw)
}

// DenyIngress writes what kube-router writes for a policy, named name, that isolates p for
// ingress and allows nothing: the policy's chain, empty, in place of the default one for
// p's ingress, so that nothing marks the packet and p's chain rejects it.
func (Layout) DenyIngress(c *fixture.Cluster, p *fixture.Pod, name string) {
	stack := c.Host(p.Node.Name)
	fw, pol := PodChain(p.Namespace, p.Name), PolicyChain(p.Namespace, name)
	def := fmt.Sprintf(`-A %s -d %s/32 -m comment --comment "run through default ingress network policy chain" -j %s`, fw, p.IP, k3s.DefaultChain)
	var out []string
	for line := range strings.SplitSeq(stack.IPTables, "\n") {
		switch {
		case line == ":"+fw+" - [0:0]":
			out = append(out, line, ":"+pol+" - [0:0]")
		case line == def:
			out = append(out, fmt.Sprintf(`-A %s -d %s/32 -m comment --comment "run through nw policy %s" -j %s`, fw, p.IP, name, pol))
		default:
			out = append(out, line)
		}
	}
	stack.ReplaceIPTables(strings.Join(out, "\n"))
}
