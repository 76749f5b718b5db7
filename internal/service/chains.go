package service

import (
	"crypto/sha256"
	"encoding/base32"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
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
