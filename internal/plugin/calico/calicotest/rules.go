package calicotest

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/fixture/ruleset"
	"github.com/netdiag/netdiag/internal/plugin/calico"
)

// Rules writes felix's chains around kube-proxy's: felix inserts its jumps at the top of
// the built-in chains and appends the FORWARD tail after the others' rules.
func (l Layout) Rules(_ *fixture.Cluster, nd *fixture.Node, t *ruleset.Tables, kubeProxy func()) {
	var pods []*fixture.Pod
	if nd != nil {
		pods = nd.Pods
	}
	addRules(t, l.Mode, pods)
	kubeProxy()
	addTail(t)
}

// IPSets are the sets felix keeps: the IP pools (nat-outgoing) and the cluster's hosts
// (tunnel packets are only taken from them).
func (l Layout) IPSets(c *fixture.Cluster) string {
	var b strings.Builder
	for _, set := range []string{"cali40masq-ipam-pools", "cali40all-ipam-pools"} {
		fmt.Fprintf(&b, "create %s hash:net family inet hashsize 1024 maxelem 1048576 bucketsize 12 initval 0x5e3b7d5a\n", set)
		fmt.Fprintf(&b, "add %s %s\n", set, fixture.ClusterCIDR)
	}
	var hosts []netip.Addr
	for _, nd := range c.NodeList() {
		hosts = append(hosts, nd.IP)
	}
	for _, set := range []string{"cali40all-hosts-net", "cali40all-vxlan-net"} {
		fmt.Fprintf(&b, "create %s hash:net family inet hashsize 1024 maxelem 1048576 bucketsize 12 initval 0x2c4a1f09\n", set)
		for _, h := range hosts {
			fmt.Fprintf(&b, "add %s %s\n", set, h)
		}
	}
	return b.String()
}

// addRules adds the chains felix (iptables data plane, v3.30) writes before anything else:
// its jumps are inserted at the top of the built-in chains. Pods get the per-workload
// chains with their namespace's profile, which allows all; DenyIngress adds a policy.
func addRules(t *ruleset.Tables, mode string, pods []*fixture.Pod) {
	t.Chain("filter", "cali-INPUT", "cali-FORWARD", "cali-OUTPUT", "cali-wl-to-host", "cali-from-wl-dispatch", "cali-to-wl-dispatch")
	t.Rule("filter", `INPUT -m comment --comment "cali:Cz_u1IQiXIMmKD4c" -j cali-INPUT`)
	t.Rule("filter", `FORWARD -m comment --comment "cali:wUHhoiAYhphO9Mso" -j cali-FORWARD`)
	t.Rule("filter", `OUTPUT -m comment --comment "cali:tVnHkvAo15HuiPy0" -j cali-OUTPUT`)
	if mode == IPIP {
		t.Rule("filter", `cali-INPUT -p ipencap -m comment --comment "cali:PajejrV4aFdkZojI" -m comment --comment "Allow IPIP packets from Calico hosts" -m set --match-set cali40all-hosts-net src -m addrtype --dst-type LOCAL -j ACCEPT`)
		t.Rule("filter", `cali-INPUT -p ipencap -m comment --comment "cali:_wjq-Yrma8Ly1Svo" -m comment --comment "Drop IPIP packets from non-Calico hosts" -j DROP`)
	}
	if mode == VXLAN {
		t.Rule("filter", `cali-INPUT -p udp -m comment --comment "cali:J76FwxInZIsk7uKY" -m comment --comment "Allow IPv4 VXLAN packets from allowed hosts" -m multiport --dports %d -m set --match-set cali40all-vxlan-net src -m addrtype --dst-type LOCAL -j ACCEPT`, vxlanPort)
		t.Rule("filter", `cali-INPUT -p udp -m comment --comment "cali:4cgmbdWsLmozYhJh" -m comment --comment "Drop IPv4 VXLAN packets from non-allowed hosts" -m multiport --dports %d -m addrtype --dst-type LOCAL -j DROP`, vxlanPort)
	}
	t.Rule("filter", `cali-INPUT -i cali+ -m comment --comment "cali:FewJjBykm9iJ-Bz" -g cali-wl-to-host`)
	t.Rule("filter", `cali-INPUT -m mark --mark 0x10000/0x10000 -m comment --comment "cali:hder3ARWznqqv8Va" -j ACCEPT`)
	t.Rule("filter", `cali-wl-to-host -m comment --comment "cali:Ee9Sbo10IpVujdIY" -j cali-from-wl-dispatch`)
	t.Rule("filter", `cali-wl-to-host -m comment --comment "cali:nSZbcOoG1xPONxb8" -m comment --comment "Configured DefaultEndpointToHostAction" -j ACCEPT`)
	t.Rule("filter", `cali-OUTPUT -m mark --mark 0x10000/0x10000 -m comment --comment "cali:Mq1_rAdXXH3YkrzW" -j ACCEPT`)
	t.Rule("filter", `cali-FORWARD -m comment --comment "cali:vjrMJCRpqwy5oRoX" -j MARK --set-xmark 0x0/0xe0000`)
	t.Rule("filter", `cali-FORWARD -i cali+ -m comment --comment "cali:8ZoYfO5HKXWbB3pk" -j cali-from-wl-dispatch`)
	t.Rule("filter", `cali-FORWARD -o cali+ -m comment --comment "cali:jdEuaPBe14V2hutn" -j cali-to-wl-dispatch`)

	namespaces := map[string]bool{}
	for _, p := range pods {
		iface := VethName(p.Namespace, p.Name)
		fw, tw := "cali-fw-"+iface, "cali-tw-"+iface
		t.Chain("filter", fw, tw)
		t.Rule("filter", `cali-from-wl-dispatch -i %s -m comment --comment "cali:%s" -g %s`, iface, ruleID(fw), fw)
		t.Rule("filter", `cali-to-wl-dispatch -o %s -m comment --comment "cali:%s" -g %s`, iface, ruleID(tw), tw)
		for _, dir := range []struct{ chain, profile string }{{fw, "cali-pro-kns." + p.Namespace}, {tw, "cali-pri-kns." + p.Namespace}} {
			t.Rule("filter", `%s -m comment --comment "cali:%s" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`, dir.chain, ruleID(dir.chain+"1"))
			t.Rule("filter", `%s -m comment --comment "cali:%s" -m conntrack --ctstate INVALID -j DROP`, dir.chain, ruleID(dir.chain+"2"))
			t.Rule("filter", `%s -m comment --comment "cali:%s" -j MARK --set-xmark 0x0/0x10000`, dir.chain, ruleID(dir.chain+"3"))
			if dir.chain == fw {
				t.Rule("filter", `%s -p udp -m comment --comment "cali:%s" -m comment --comment "Drop VXLAN encapped packets originating in workloads" -m multiport --dports %d -j DROP`, fw, ruleID(fw+"4"), vxlanPort)
				t.Rule("filter", `%s -p ipencap -m comment --comment "cali:%s" -m comment --comment "Drop IPinIP encapped packets originating in workloads" -j DROP`, fw, ruleID(fw+"5"))
			}
			t.Rule("filter", `%s -m comment --comment "cali:%s" -j %s`, dir.chain, ruleID(dir.chain+"6"), dir.profile)
			t.Rule("filter", `%s -m comment --comment "cali:%s" -m comment --comment "Return if profile accepted" -m mark --mark 0x10000/0x10000 -j RETURN`, dir.chain, ruleID(dir.chain+"7"))
			t.Rule("filter", `%s -m comment --comment "cali:%s" -m comment --comment "Drop if no profiles matched" -j DROP`, dir.chain, ruleID(dir.chain+"8"))
		}
		namespaces[p.Namespace] = true
	}
	t.Rule("filter", `cali-from-wl-dispatch -m comment --comment "cali:zTj6P0TIgYvgz-md" -m comment --comment "Unknown interface" -j DROP`)
	t.Rule("filter", `cali-to-wl-dispatch -m comment --comment "cali:7KNphB1nNHw80nIO" -m comment --comment "Unknown interface" -j DROP`)
	nss := make([]string, 0, len(namespaces))
	for ns := range namespaces {
		nss = append(nss, ns)
	}
	slices.Sort(nss)
	for _, ns := range nss {
		for _, profile := range []string{"cali-pri-kns." + ns, "cali-pro-kns." + ns} {
			t.Chain("filter", profile)
			t.Rule("filter", `%s -m comment --comment "cali:%s" -j MARK --set-xmark 0x10000/0x10000`, profile, ruleID(profile+"1"))
			t.Rule("filter", `%s -m comment --comment "cali:%s" -m mark --mark 0x10000/0x10000 -j RETURN`, profile, ruleID(profile+"2"))
		}
	}

	t.Chain("nat", "cali-POSTROUTING", "cali-nat-outgoing")
	t.Rule("nat", `POSTROUTING -m comment --comment "cali:O3lYWMrLQYEMJtB5" -j cali-POSTROUTING`)
	t.Rule("nat", `cali-POSTROUTING -m comment --comment "cali:Z-c7XtVd2Bq7s_hA" -j cali-nat-outgoing`)
	switch mode {
	case VXLAN:
		t.Rule("nat", `cali-POSTROUTING -o %s -m comment --comment "cali:e9dnSgSVNmIcpVhP" -m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL -j MASQUERADE --random-fully`, calico.DefaultVXLANDevice)
	case IPIP:
		t.Rule("nat", `cali-POSTROUTING -o %s -m comment --comment "cali:SXWvdsbh4Mw7wOln" -m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL -j MASQUERADE --random-fully`, calico.DefaultIPIPDevice)
	}
	t.Rule("nat", `cali-nat-outgoing -m comment --comment "cali:flqWnvo8yq4ULQLa" -m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE --random-fully`)
}

// addTail adds what felix appends after the other writers' rules: FORWARD accepts what a
// policy or profile accepted (the mark), and marks the rest for the host endpoint rules.
func addTail(t *ruleset.Tables) {
	t.Rule("filter", `FORWARD -m comment --comment "cali:S93hcgKJrXEqnTfs" -m comment --comment "Policy explicitly accepted packet." -m mark --mark 0x10000/0x10000 -j ACCEPT`)
	t.Rule("filter", `FORWARD -m comment --comment "cali:mp77cMpurHhyjLrM" -j MARK --set-xmark 0x10000/0x10000`)
}

// ruleID is a stable stand-in for felix's 16-character rule hashes.
func ruleID(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])[:16]
}

// DenyIngress writes what felix writes for a policy that isolates p for ingress and allows
// nothing, in p's cali-tw chain on its node: the policy's (empty) cali-pi chain and the
// drop of what no policy passed.
func (l Layout) DenyIngress(c *fixture.Cluster, p *fixture.Pod, policyName string) {
	stack := c.Host(p.Node.Name)
	tw := "cali-tw-" + VethName(p.Namespace, p.Name)
	pi := "cali-pi-_" + ruleID(p.Namespace+"/knp.default."+policyName)
	lines := strings.Split(stack.IPTables, "\n")
	var out []string
	for _, line := range lines {
		out = append(out, line)
		switch {
		case line == ":"+tw+" - [0:0]":
			out = append(out, ":"+pi+" - [0:0]")
		case strings.HasPrefix(line, "-A "+tw+" ") && strings.HasSuffix(line, "-j MARK --set-xmark 0x0/0x10000"):
			out = append(out,
				fmt.Sprintf(`-A %s -m comment --comment "cali:%s" -m comment --comment "Start of policies" -j MARK --set-xmark 0x0/0x20000`, tw, ruleID(tw+"p1")),
				fmt.Sprintf(`-A %s -m comment --comment "cali:%s" -m mark --mark 0x0/0x20000 -j %s`, tw, ruleID(tw+"p2"), pi),
				fmt.Sprintf(`-A %s -m comment --comment "cali:%s" -m comment --comment "Return if policy accepted" -m mark --mark 0x10000/0x10000 -j RETURN`, tw, ruleID(tw+"p3")),
				fmt.Sprintf(`-A %s -m comment --comment "cali:%s" -m comment --comment "Drop if no policies passed packet" -m mark --mark 0x0/0x20000 -j DROP`, tw, ruleID(tw+"p4")))
		}
	}
	stack.ReplaceIPTables(strings.Join(out, "\n"))
}
