package service

import (
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/netstack/nf"
	"github.com/netdiag/netdiag/internal/netstack/nftables"
)

// kube-proxy's nftables mode (pkg/proxy/nftables/proxier.go) keeps everything in "table ip
// kube-proxy". A service port's chains are named by a prefix, eight base32 characters of the
// SHA-256 of their base and the base itself, "namespace/name/protocol/portname" (an
// endpoint's adds "__ip/port"): service-KHN6ECMT-shop/web/tcp/http,
// endpoint-6SXSG55R-shop/sticky/tcp/__10.244.1.12/8080. The name is in the clear, so a chain
// maps back to its service port without recomputing the hash. Services without usable
// endpoints are elements of the no-endpoint-services and no-endpoint-nodeports verdict maps,
// keyed by the packet's own address, protocol and port; the service-ips and
// service-nodeports maps send the others to their chains.
const (
	nftKubeProxyTable = "kube-proxy"
	// Chains whose verdict maps stop packets for services without (local) endpoints.
	nftNoEndpointServices  = "service-endpoints-check"
	nftNoEndpointNodePorts = "nodeport-endpoints-check"
	// The chain that rejects packets to a cluster IP's ports kube-proxy has no rule for,
	// and drops those to unallocated cluster IPs.
	nftClusterIPsCheck = "cluster-ips-check"
	// The prefix of the sets that hold a ClientIP-affinity service's recent clients, one
	// set per endpoint.
	nftAffinitySetPrefix = "affinity-"
)

// nftChainPrefixes are the prefixes of kube-proxy's per-service-port and per-endpoint chains.
var nftChainPrefixes = []string{"service-", "local-", "external-", "firewall-", "endpoint-"}

// NFTChainBase returns the part of kube-proxy's nftables chain names that names a service
// port: "namespace/name/protocol/portname".
func NFTChainBase(svc *corev1.Service, p *corev1.ServicePort) string {
	return svc.Namespace + "/" + svc.Name + "/" + strings.ToLower(string(p.Protocol)) + "/" + p.Name
}

// nftChainNames reports whether a kube-proxy chain belongs to the service port (its
// service, local, external, firewall or endpoint chain).
func nftChainNames(chain string, svc *corev1.Service, p *corev1.ServicePort) bool {
	for _, prefix := range nftChainPrefixes {
		rest, ok := strings.CutPrefix(chain, prefix)
		if !ok {
			continue
		}
		// The hash: eight characters and a dash.
		if len(rest) < 9 || rest[8] != '-' {
			return false
		}
		base, _, _ := strings.Cut(rest[9:], "__")
		return base == NFTChainBase(svc, p)
	}
	return false
}

// passesNoEndpointCheck reports whether a walk went through kube-proxy's verdict maps of
// services without endpoints and took one of their elements (a jump or goto out of them).
func passesNoEndpointCheck(trace []nf.Step) bool {
	for _, s := range trace {
		if s.Ruleset != nf.NFTables || s.Table != nftKubeProxyTable {
			continue
		}
		if (s.Chain == nftNoEndpointServices || s.Chain == nftNoEndpointNodePorts) && strings.HasPrefix(s.Action, "vmap ") {
			return true
		}
	}
	return false
}

// nftServiceRules counts what kube-proxy's nftables table holds for a service port: its
// chains, and the map elements that lead to them or name it.
func nftServiceRules(rs *nftables.Ruleset, svc *corev1.Service, p *corev1.ServicePort) int {
	if rs == nil {
		return 0
	}
	n := 0
	for _, t := range rs.Tables {
		if t.Family != "ip" || t.Name != nftKubeProxyTable {
			continue
		}
		for _, c := range t.Order {
			if nftChainNames(c.Name, svc, p) {
				n++
			}
		}
		for _, set := range t.Sets {
			if set.Map != "verdict" {
				continue
			}
			for _, e := range set.Elems {
				if v, ok := e.Data.(map[string]any); ok {
					for _, arg := range v {
						if m, ok := arg.(map[string]any); ok {
							if target, _ := m["target"].(string); nftChainNames(target, svc, p) {
								n++
							}
						}
					}
				}
			}
		}
	}
	return n
}
