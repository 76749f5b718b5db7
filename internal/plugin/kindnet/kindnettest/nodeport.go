package kindnettest

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/fixture"
)

// NodePort makes the built ClusterIP service namespace/name a NodePort service on port, with
// the rules kube-proxy (iptables mode) adds for it on every node: KUBE-NODEPORTS jumps to a
// KUBE-EXT chain that marks the packet for masquerade and goes on to the service's chain.
func NodePort(c *fixture.Cluster, namespace, name string, port int32) {
	var svc *corev1.Service
	for i := range c.Snapshot.Services {
		if s := &c.Snapshot.Services[i]; s.Namespace == namespace && s.Name == name {
			svc = s
		}
	}
	if svc == nil || len(svc.Spec.Ports) == 0 {
		panic("kindnettest: no service " + namespace + "/" + name)
	}
	svc.Spec.Type = corev1.ServiceTypeNodePort
	svc.Spec.Ports[0].NodePort = port
	jump := fmt.Sprintf("-A KUBE-SERVICES -d %s/32 ", svc.Spec.ClusterIP)
	for node := range c.Nodes {
		h := c.Host(node)
		svcChain := ""
		for l := range strings.SplitSeq(h.IPTables, "\n") {
			if strings.HasPrefix(l, jump) {
				_, svcChain, _ = strings.Cut(l, " -j ")
			}
		}
		if svcChain == "" {
			panic("kindnettest: no kube-proxy rules for " + namespace + "/" + name + " on " + node)
		}
		ext := "KUBE-EXT-" + strings.TrimPrefix(svcChain, "KUBE-SVC-")
		spn := fmt.Sprintf("%s/%s:%s", namespace, name, svc.Spec.Ports[0].Name)
		h.ReplaceIPTables(withNATRules(h.IPTables, []string{ext}, []string{
			fmt.Sprintf(`KUBE-NODEPORTS -p tcp -m comment --comment "%s" -m tcp --dport %d -j %s`, spn, port, ext),
			fmt.Sprintf(`%s -m comment --comment "masquerade traffic for %s external destinations" -j KUBE-MARK-MASQ`, ext, spn),
			fmt.Sprintf(`%s -j %s`, ext, svcChain),
		}))
	}
}

// withNATRules declares chains at the top of the nat table of an iptables-save text and
// appends rules (the text after "-A ") at its end.
func withNATRules(save string, chains, rules []string) string {
	var out []string
	inNAT := false
	for _, l := range strings.Split(save, "\n") {
		switch {
		case l == "*nat":
			inNAT = true
			out = append(out, l)
			for _, c := range chains {
				out = append(out, ":"+c+" - [0:0]")
			}
			continue
		case inNAT && l == "COMMIT":
			inNAT = false
			for _, r := range rules {
				out = append(out, "-A "+r)
			}
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}
