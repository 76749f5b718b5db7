package diagnose

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/dnsname"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

// DNSPort is the port a resolver asks its nameserver on, over UDP and, for large answers, TCP.
const DNSPort = 53

// ClusterDNSService is the Service the kubelet's --cluster-dns points pods at in a cluster
// installed the usual way (kubeadm, every managed offering): CoreDNS behind kube-dns.
var ClusterDNSService = cluster.EndpointRef{Type: model.EndpointService, Namespace: "kube-system", Name: "kube-dns"}

// Name is a destination named by a DNS name: how the source's resolver resolves it, and the
// way to the nameserver it asks.
type Name struct {
	// Name is the name as the spec gives it.
	Name string
	// Domain is the cluster domain.
	Domain string
	// ResolvConf is the source's resolver configuration, as the kubelet writes it for the
	// source pod; HasResolver is false when the source's resolver is not known (a node, an
	// address outside, a pod on its node's resolver), and only full cluster names are then
	// answered from the objects.
	ResolvConf  dnsname.ResolvConf
	HasResolver bool
	// Resolution is the cluster DNS's answer.
	Resolution dnsname.Resolution
	// Answer is the source's own resolver's answer, asked by its collector, for a name the
	// cluster's objects leave to it (Resolution.External); nil when it was not asked.
	Answer *netstack.NameLookup
}

// ResolveName resolves a destination name for the source src, as its resolver and the
// cluster DNS (the cluster domain, domain) would, from the snapshot alone.
func ResolveName(snap *cluster.Snapshot, domain string, src model.Endpoint, name string) Name {
	n := Name{Name: name, Domain: dnsname.Canonical(domain), ResolvConf: dnsname.ResolvConf{Ndots: 1}}
	if n.Domain == "" {
		n.Domain = dnsname.DefaultClusterDomain
	}
	if src.Type == model.EndpointPod {
		if pod := snap.Pod(src.Namespace, src.Name); pod != nil {
			n.ResolvConf, n.HasResolver = dnsname.PodResolvConf(pod, n.Domain, clusterDNS(snap), nil)
		}
	}
	n.Resolution = dnsname.Resolve(snap, n.Domain, n.ResolvConf, name)
	return n
}

// clusterDNS is the address the kubelet gives pods as their nameserver: the cluster DNS
// Service's cluster IP.
func clusterDNS(snap *cluster.Snapshot) []netip.Addr {
	ep, err := snap.Resolve(ClusterDNSService)
	if err != nil {
		return nil
	}
	return []netip.Addr{ep.IP}
}

// Destination is what the diagnosis goes to: the Service a cluster name names, the first
// ready pod of a headless one, or the address of a pod record; ok is false when the cluster
// does not answer the name with an address.
func (n Name) Destination() (ref cluster.EndpointRef, ok bool) {
	rec := n.Resolution.Record
	if !n.Resolution.Resolved() {
		return cluster.EndpointRef{}, false
	}
	switch rec.Kind {
	case dnsname.KindService:
		return cluster.EndpointRef{Type: model.EndpointService, Namespace: rec.Namespace, Name: rec.Service}, true
	case dnsname.KindHeadless, dnsname.KindEndpoint:
		if t := rec.Targets[0]; t.Pod != "" {
			return cluster.EndpointRef{Type: model.EndpointPod, Namespace: t.Namespace, Name: t.Pod}, true
		}
	}
	return cluster.EndpointRef{Type: model.EndpointExternal, IP: rec.Addrs[0]}, true
}

// Endpoint resolves Destination in the snapshot: ok is false when the name gave no
// destination, and err says why one it gave cannot be diagnosed (a pod without an address).
func (n Name) Endpoint(snap *cluster.Snapshot) (ep model.Endpoint, ok bool, err error) {
	ref, ok := n.Destination()
	if !ok {
		return model.Endpoint{}, false, nil
	}
	ep, err = snap.Resolve(ref)
	if err != nil {
		return model.Endpoint{}, false, fmt.Errorf("name %s: %w", n.Name, err)
	}
	return ep, true, nil
}

// DNSQuestions are the flows of the DNS path: UDP and TCP port 53 from the source to the
// first nameserver of its resolver, which it asks first, resolved to the endpoint behind it
// (the cluster DNS Service). None when the source's resolver is not known.
func (n Name) DNSQuestions(snap *cluster.Snapshot, src model.Endpoint) []model.Question {
	if !n.HasResolver || len(n.ResolvConf.Nameservers) == 0 {
		return nil
	}
	ns, err := snap.Resolve(cluster.EndpointRef{Type: model.EndpointExternal, IP: n.ResolvConf.Nameservers[0]})
	if err != nil {
		return nil
	}
	return []model.Question{
		{Source: src, Destination: ns, Protocol: model.UDP, Port: DNSPort},
		{Source: src, Destination: ns, Protocol: model.TCP, Port: DNSPort},
	}
}

// PlanName is Plan for a diagnosis toward a name: the nodes of the question, when the name
// resolved to a destination, and those of the DNS path.
func PlanName(snap *cluster.Snapshot, q model.Question, dns []model.Question, maxNodes int) CollectPlan {
	plan := CollectPlan{Pods: map[string][]netstack.PodRef{}}
	qs := dns
	if q.Destination.IP.IsValid() {
		qs = append([]model.Question{q}, dns...)
	} else {
		// The source is collected all the same: its resolver's answer and its DNS path
		// start there.
		qs = append([]model.Question{{Source: q.Source, Destination: q.Source}}, dns...)
	}
	for _, one := range qs {
		for node, pods := range PlanBounded(snap, one, maxNodes).Pods {
			for _, p := range pods {
				if !slices.Contains(plan.Pods[node], p) {
					plan.Pods[node] = append(plan.Pods[node], p)
				}
			}
			if _, ok := plan.Pods[node]; !ok {
				plan.Pods[node] = nil
			}
		}
	}
	return plan
}
