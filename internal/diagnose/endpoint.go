package diagnose

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
)

// FormatEndpointRef writes an endpoint as ParseEndpointRef reads it.
func FormatEndpointRef(r cluster.EndpointRef) string {
	switch r.Type {
	case model.EndpointPod:
		return "pod:" + r.Namespace + "/" + r.Name
	case model.EndpointService:
		return "service:" + r.Namespace + "/" + r.Name
	case model.EndpointNode:
		return "node:" + r.Name
	}
	return "ip:" + r.IP.String()
}

// ParseEndpointRef reads an endpoint as the command line names it: pod:NS/NAME,
// service:NS/NAME, node:NAME or ip:ADDRESS.
func ParseEndpointRef(s string) (cluster.EndpointRef, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok || rest == "" {
		return cluster.EndpointRef{}, fmt.Errorf("endpoint %q: want pod:NAMESPACE/NAME, service:NAMESPACE/NAME, node:NAME or ip:ADDRESS", s)
	}
	switch kind {
	case "pod", "service", "svc":
		ns, name, ok := strings.Cut(rest, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return cluster.EndpointRef{}, fmt.Errorf("endpoint %q: want %s:NAMESPACE/NAME", s, kind)
		}
		t := model.EndpointPod
		if kind != "pod" {
			t = model.EndpointService
		}
		return cluster.EndpointRef{Type: t, Namespace: ns, Name: name}, nil
	case "node":
		if strings.Contains(rest, "/") {
			return cluster.EndpointRef{}, fmt.Errorf("endpoint %q: want node:NAME", s)
		}
		return cluster.EndpointRef{Type: model.EndpointNode, Name: rest}, nil
	case "ip":
		ip, err := netip.ParseAddr(rest)
		if err != nil {
			return cluster.EndpointRef{}, fmt.Errorf("endpoint %q: %w", s, err)
		}
		return cluster.EndpointRef{Type: model.EndpointExternal, IP: ip.Unmap()}, nil
	}
	return cluster.EndpointRef{}, fmt.Errorf("endpoint %q: unknown kind %q (want pod, service, node or ip)", s, kind)
}
