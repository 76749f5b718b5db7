package service

import (
	"crypto/sha256"
	"encoding/base32"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/cluster"
)

// kube-proxy names its per-service and per-endpoint chains by a hash (pkg/proxy/iptables
// portProtoHash and servicePortEndpointChainName): the first 16 base32 characters of the
// SHA-256 of the service port's name and protocol (and endpoint). Recomputing them maps a
// chain back to its service port without trusting comments, which kube-proxy drops on
// large clusters.
func portProtoHash(portName, protocol string) string {
	h := sha256.Sum256([]byte(portName + protocol))
	return base32.StdEncoding.EncodeToString(h[:])[:16]
}

// Chain name prefixes kube-proxy uses.
const (
	prefixSVC = "KUBE-SVC-"
	prefixSVL = "KUBE-SVL-"
	prefixEXT = "KUBE-EXT-"
	prefixFW  = "KUBE-FW-"
	prefixSEP = "KUBE-SEP-"
)

// ServiceChains returns the names of the chains kube-proxy makes for a service port:
// KUBE-SVC (cluster policy), KUBE-SVL (local policy), KUBE-EXT (external destinations) and
// KUBE-FW (load-balancer source ranges).
func ServiceChains(svc *corev1.Service, p *corev1.ServicePort) []string {
	h := portProtoHash(portName(svc, p), strings.ToLower(string(p.Protocol)))
	return []string{prefixSVC + h, prefixSVL + h, prefixEXT + h, prefixFW + h}
}

// EndpointChain returns the KUBE-SEP chain of one endpoint (IP:port) of a service port.
func EndpointChain(svc *corev1.Service, p *corev1.ServicePort, ep netip.AddrPort) string {
	h := sha256.Sum256([]byte(portName(svc, p) + strings.ToLower(string(p.Protocol)) + ep.String()))
	return prefixSEP + base32.StdEncoding.EncodeToString(h[:])[:16]
}

// chainOwner is the service port a kube-proxy chain belongs to.
type chainOwner struct {
	svc  *corev1.Service
	port *corev1.ServicePort
}

// chainIndex maps every per-service chain name the snapshot's services would have to its
// service port.
func chainIndex(snap *cluster.Snapshot) map[string]chainOwner {
	idx := map[string]chainOwner{}
	for i := range snap.Services {
		svc := &snap.Services[i]
		for j := range svc.Spec.Ports {
			for _, c := range ServiceChains(svc, &svc.Spec.Ports[j]) {
				idx[c] = chainOwner{svc, &svc.Spec.Ports[j]}
			}
		}
	}
	return idx
}

func isServiceChain(name string) bool {
	for _, p := range []string{prefixSVC, prefixSVL, prefixEXT, prefixFW, prefixSEP} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
