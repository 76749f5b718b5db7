package controllers

import (
	"net/netip"
	"slices"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
)

// FlagCollectorAPIViaService is the manager's flag that sends collectors to the API server
// through the kubernetes Service instead of straight to its endpoints.
const FlagCollectorAPIViaService = "collector-api-via-service"

// apiServerArgs are the collector flags that send it straight to the API server's own
// addresses, read from the kubernetes EndpointSlice as the kubelet reads its own
// kubeconfig's: the Service's address would go through this node's kube-proxy rules, and a
// diagnosis may be about exactly those. None when the slices list no ready endpoint, and the
// collector then takes the Service.
func apiServerArgs(slices []*discoveryv1.EndpointSlice) []string {
	var args []string
	for _, ep := range apiServerEndpoints(slices) {
		args = append(args, "--api-server", ep.String())
	}
	return args
}

// apiServerEndpoints are the ready addresses of the kubernetes Service's EndpointSlices
// with the https port, in a stable order.
func apiServerEndpoints(eps []*discoveryv1.EndpointSlice) []netip.AddrPort {
	var out []netip.AddrPort
	for _, s := range eps {
		port, ok := httpsPort(s)
		if !ok {
			continue
		}
		for _, e := range s.Endpoints {
			if !ptr.Deref(e.Conditions.Ready, true) {
				continue
			}
			for _, a := range e.Addresses {
				if addr, err := netip.ParseAddr(a); err == nil {
					out = append(out, netip.AddrPortFrom(addr, port))
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return slices.Compact(out)
}

// httpsPort is the slice's port named https, or its only port.
func httpsPort(s *discoveryv1.EndpointSlice) (uint16, bool) {
	for _, p := range s.Ports {
		if p.Port != nil && (ptr.Deref(p.Name, "") == "https" || len(s.Ports) == 1) {
			if *p.Port > 0 && *p.Port <= 65535 {
				return uint16(*p.Port), true
			}
		}
	}
	return 0, false
}
