package dnsname

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// DefaultClusterDomain is the cluster domain when the manager is not told another.
const DefaultClusterDomain = "cluster.local"

// Limits a resolver and the kubelet keep: glibc reads three nameservers, and the kubelet
// writes at most 32 search domains.
const (
	maxNameservers = 3
	maxSearch      = 32
	// kubeletNdots is the ndots the kubelet writes for ClusterFirst pods.
	kubeletNdots = 5
	// resolverNdots is a resolver's default without an ndots option.
	resolverNdots = 1
	// maxResolvConf bounds what ParseResolvConf reads.
	maxResolvConf = 64 << 10
)

// ResolvConf is what a resolver reads from resolv.conf.
type ResolvConf struct {
	Nameservers []netip.Addr `json:"nameservers,omitempty"`
	Search      []string     `json:"search,omitempty"`
	Ndots       int          `json:"ndots"`
}

// ParseResolvConf reads a resolv.conf as glibc does: the first three nameservers, the last
// search (or domain) line, and ndots from the options. Lines it does not know are skipped.
func ParseResolvConf(data []byte) (ResolvConf, error) {
	if len(data) > maxResolvConf {
		return ResolvConf{}, fmt.Errorf("resolv.conf is %d bytes, more than %d", len(data), maxResolvConf)
	}
	rc := ResolvConf{Ndots: resolverNdots}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if ip, err := netip.ParseAddr(f[1]); err == nil && len(rc.Nameservers) < maxNameservers {
				rc.Nameservers = append(rc.Nameservers, ip.Unmap())
			}
		case "search", "domain":
			// The last of search and domain wins, as in glibc.
			rc.Search = nil
			for _, d := range f[1:] {
				rc.Search = appendSearch(rc.Search, d)
			}
		case "options":
			for _, o := range f[1:] {
				if v, ok := strings.CutPrefix(o, "ndots:"); ok {
					if n, err := strconv.Atoi(v); err == nil && n >= 0 {
						rc.Ndots = min(n, 15)
					}
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return ResolvConf{}, fmt.Errorf("read resolv.conf: %w", err)
	}
	return rc, nil
}

func appendSearch(search []string, d string) []string {
	d = Canonical(d)
	if d == "" || len(search) >= maxSearch || slices.Contains(search, d) {
		return search
	}
	return append(search, d)
}

// PodResolvConf is the resolv.conf the kubelet writes for the pod, given the cluster domain
// and the kubelet's --cluster-dns addresses; host is the node's own resolv.conf, which the
// kubelet merges in and passes to Default pods. ok is false when the pod takes the node's
// resolver and host is not known.
func PodResolvConf(pod *corev1.Pod, domain string, clusterDNS []netip.Addr, host *ResolvConf) (rc ResolvConf, ok bool) {
	domain = Canonical(domain)
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork {
		// The kubelet gives a hostNetwork pod the node's resolver unless it asks for
		// ClusterFirstWithHostNet.
		policy = corev1.DNSDefault
	}
	if policy == corev1.DNSClusterFirst && len(clusterDNS) == 0 {
		policy = corev1.DNSDefault
	}
	switch policy {
	case corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet:
		rc = ResolvConf{Nameservers: slices.Clone(clusterDNS), Ndots: kubeletNdots}
		for _, d := range []string{pod.Namespace + ".svc." + domain, "svc." + domain, domain} {
			rc.Search = appendSearch(rc.Search, d)
		}
		if host != nil {
			for _, d := range host.Search {
				rc.Search = appendSearch(rc.Search, d)
			}
		}
		ok = true
	case corev1.DNSDefault:
		if host != nil {
			rc, ok = *host, true
			rc.Search = slices.Clone(host.Search)
			rc.Nameservers = slices.Clone(host.Nameservers)
		}
	case corev1.DNSNone:
		rc, ok = ResolvConf{Ndots: resolverNdots}, true
	}
	if c := pod.Spec.DNSConfig; c != nil {
		for _, s := range c.Nameservers {
			if ip, err := netip.ParseAddr(s); err == nil && !slices.Contains(rc.Nameservers, ip.Unmap()) {
				rc.Nameservers = append(rc.Nameservers, ip.Unmap())
			}
		}
		for _, d := range c.Searches {
			rc.Search = appendSearch(rc.Search, d)
		}
		for _, o := range c.Options {
			if o.Name == "ndots" && o.Value != nil {
				if n, err := strconv.Atoi(*o.Value); err == nil && n >= 0 {
					rc.Ndots = min(n, 15)
				}
			}
		}
		ok = ok || len(c.Nameservers) > 0
	}
	if len(rc.Nameservers) > maxNameservers {
		rc.Nameservers = rc.Nameservers[:maxNameservers]
	}
	return rc, ok
}

// Format writes rc as a resolv.conf, in the kubelet's order.
func (rc ResolvConf) Format() string {
	var b strings.Builder
	for _, ns := range rc.Nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(rc.Search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(rc.Search, " "))
	}
	fmt.Fprintf(&b, "options ndots:%d\n", rc.Ndots)
	return b.String()
}

// Canonical lower-cases a name and drops its final dot.
func Canonical(name string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
}

// Candidates are the names a resolver asks, in order, for name: a name with a final dot
// only as it is; one with at least ndots dots first as it is and then with each search
// domain; any other first with each search domain and then as it is.
func Candidates(name string, rc ResolvConf) []string {
	if strings.HasSuffix(name, ".") {
		return []string{Canonical(name)}
	}
	name = Canonical(name)
	var searched []string
	for _, d := range rc.Search {
		searched = append(searched, name+"."+d)
	}
	if strings.Count(name, ".") >= rc.Ndots {
		return append([]string{name}, searched...)
	}
	return append(searched, name)
}
