package dnsname

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/netdiag/netdiag/internal/cluster"
)

// Kind says what a cluster name names.
type Kind string

const (
	// KindService is a Service with a cluster IP: one A record, the cluster IP.
	KindService Kind = "Service"
	// KindHeadless is a headless Service: an A record per ready endpoint.
	KindHeadless Kind = "HeadlessService"
	// KindEndpoint is one endpoint of a headless Service, by its hostname or its dashed
	// address.
	KindEndpoint Kind = "ServiceEndpoint"
	// KindPod is a pod A record, the dashed address under <namespace>.pod.<domain>.
	KindPod Kind = "Pod"
	// KindExternalName is an ExternalName Service: a CNAME to another name.
	KindExternalName Kind = "ExternalName"
)

// Record is the cluster DNS's answer for one name inside the cluster domain.
type Record struct {
	// Name is the fully qualified name that answered, without its final dot.
	Name string
	Kind Kind
	// Namespace and Service name the Service the name belongs to; empty for a pod record.
	Namespace, Service string
	// Addrs are the A and AAAA answers, ordered; none for an ExternalName.
	Addrs []netip.Addr
	// Targets are the endpoints behind Addrs that are pods, in the same order where known.
	Targets []Target
	// Alias is an ExternalName's target.
	Alias string
}

// Target is an address a record answers with, and the pod it belongs to when known.
type Target struct {
	Addr           netip.Addr
	Namespace, Pod string
	Node           string
}

// maxAddrs bounds the answers kept for one headless Service, as a DNS reply over UDP would.
const maxAddrs = 64

// Lookup answers fqdn from the snapshot as the Kubernetes DNS specification says, for names
// inside domain: <service>.<ns>.svc, <hostname or dashed address>.<service>.<ns>.svc and
// <dashed address>.<ns>.pod. ok is false when the cluster DNS answers NXDOMAIN (the name is
// inside the domain but names nothing) and when fqdn is outside the domain (inDomain false).
func Lookup(snap *cluster.Snapshot, domain, fqdn string) (rec Record, inDomain, ok bool) {
	domain, fqdn = Canonical(domain), Canonical(fqdn)
	rel, inDomain := strings.CutSuffix(fqdn, "."+domain)
	if !inDomain {
		return Record{}, false, false
	}
	labels := strings.Split(rel, ".")
	n := len(labels)
	switch {
	case n == 3 && labels[2] == "svc":
		rec, ok = serviceRecord(snap, labels[1], labels[0])
	case n == 4 && labels[3] == "svc":
		rec, ok = endpointRecord(snap, labels[2], labels[1], labels[0])
	case n == 3 && labels[2] == "pod":
		rec, ok = podRecord(snap, labels[1], labels[0])
	}
	if ok {
		rec.Name = fqdn
	}
	return rec, true, ok
}

func serviceRecord(snap *cluster.Snapshot, ns, name string) (Record, bool) {
	svc := snap.Service(ns, name)
	if svc == nil {
		return Record{}, false
	}
	rec := Record{Namespace: ns, Service: name}
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		rec.Kind, rec.Alias = KindExternalName, Canonical(svc.Spec.ExternalName)
		return rec, rec.Alias != ""
	case svc.Spec.ClusterIP == corev1.ClusterIPNone:
		rec.Kind = KindHeadless
		rec.Targets = endpoints(snap, svc, "")
	default:
		ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
		if err != nil {
			return Record{}, false
		}
		rec.Kind = KindService
		rec.Addrs = []netip.Addr{ip.Unmap()}
		return rec, true
	}
	for _, t := range rec.Targets {
		rec.Addrs = append(rec.Addrs, t.Addr)
	}
	// A headless Service with no ready endpoint has no A record: NXDOMAIN's cousin NODATA,
	// which a resolver treats as no address.
	return rec, true
}

func endpointRecord(snap *cluster.Snapshot, ns, name, host string) (Record, bool) {
	svc := snap.Service(ns, name)
	if svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone {
		return Record{}, false
	}
	ts := endpoints(snap, svc, host)
	if len(ts) == 0 {
		return Record{}, false
	}
	rec := Record{Kind: KindEndpoint, Namespace: ns, Service: name, Targets: ts}
	for _, t := range ts {
		rec.Addrs = append(rec.Addrs, t.Addr)
	}
	return rec, true
}

// endpoints are the addresses the cluster DNS answers for a headless Service: its ready
// endpoints (every one with publishNotReadyAddresses), or, with host, only those whose
// hostname or dashed address is host.
func endpoints(snap *cluster.Snapshot, svc *corev1.Service, host string) []Target {
	var out []Target
	for _, es := range snap.EndpointSlicesOf(svc.Namespace, svc.Name) {
		for _, e := range es.Endpoints {
			if !svc.Spec.PublishNotReadyAddresses && e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil {
					continue
				}
				ip = ip.Unmap()
				if host != "" && !matchesHost(e, ip, host) {
					continue
				}
				out = append(out, target(snap, e, ip))
			}
		}
	}
	slices.SortFunc(out, func(a, b Target) int { return a.Addr.Compare(b.Addr) })
	out = slices.CompactFunc(out, func(a, b Target) bool { return a.Addr == b.Addr })
	if len(out) > maxAddrs {
		out = out[:maxAddrs]
	}
	return out
}

func matchesHost(e discoveryv1.Endpoint, ip netip.Addr, host string) bool {
	if e.Hostname != nil && *e.Hostname != "" {
		return *e.Hostname == host
	}
	return dashed(ip) == host
}

func target(snap *cluster.Snapshot, e discoveryv1.Endpoint, ip netip.Addr) Target {
	t := Target{Addr: ip}
	if e.TargetRef != nil && e.TargetRef.Kind == "Pod" {
		t.Namespace, t.Pod = e.TargetRef.Namespace, e.TargetRef.Name
	}
	if e.NodeName != nil {
		t.Node = *e.NodeName
	} else if p := snap.Pod(t.Namespace, t.Pod); t.Pod != "" && p != nil {
		t.Node = p.Spec.NodeName
	}
	return t
}

// podRecord answers <a-b-c-d>.<ns>.pod as CoreDNS's default "pods insecure" does: the
// address the name spells, whether or not a pod of ns has it; Targets names the pod when one
// does.
func podRecord(snap *cluster.Snapshot, ns, label string) (Record, bool) {
	ip, ok := undash(label)
	if !ok {
		return Record{}, false
	}
	rec := Record{Kind: KindPod, Namespace: ns, Addrs: []netip.Addr{ip}, Targets: []Target{{Addr: ip}}}
	for _, p := range snap.PodsByIP(ip) {
		if p.Namespace == ns && !p.Spec.HostNetwork {
			rec.Targets[0] = Target{Addr: ip, Namespace: p.Namespace, Pod: p.Name, Node: p.Spec.NodeName}
			break
		}
	}
	return rec, true
}

// dashed writes an address as the cluster DNS spells it in a label: 10-244-1-5, or an IPv6
// address with dashes for colons.
func dashed(ip netip.Addr) string {
	return strings.NewReplacer(".", "-", ":", "-").Replace(ip.String())
}

func undash(label string) (netip.Addr, bool) {
	if strings.Count(label, "-") == 3 {
		if ip, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ".")); err == nil && ip.Is4() {
			return ip, true
		}
	}
	if ip, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ":")); err == nil && ip.Is6() {
		return ip, true
	}
	return netip.Addr{}, false
}

// String says what the record is, for a person: "service data/db (10.96.0.20)".
func (r Record) String() string {
	switch r.Kind {
	case KindService:
		return fmt.Sprintf("service %s/%s (%s)", r.Namespace, r.Service, joinAddrs(r.Addrs))
	case KindHeadless:
		return fmt.Sprintf("headless service %s/%s (%s)", r.Namespace, r.Service, joinAddrs(r.Addrs))
	case KindEndpoint:
		return fmt.Sprintf("endpoint of headless service %s/%s (%s)", r.Namespace, r.Service, joinAddrs(r.Addrs))
	case KindExternalName:
		return fmt.Sprintf("ExternalName service %s/%s, an alias of %s", r.Namespace, r.Service, r.Alias)
	}
	return fmt.Sprintf("pod record in namespace %s (%s)", r.Namespace, joinAddrs(r.Addrs))
}

func joinAddrs(addrs []netip.Addr) string {
	if len(addrs) == 0 {
		return "no address"
	}
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
