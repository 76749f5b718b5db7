package main

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/spf13/pflag"

	"github.com/netdiag/netdiag/internal/collector"
	"github.com/netdiag/netdiag/internal/dnsname"
	"github.com/netdiag/netdiag/internal/netstack"
)

// lookupFlags ask the collector to resolve a name with a pod's resolver: the controller
// hands over the resolv.conf the kubelet writes for the pod.
type lookupFlags struct {
	from        string
	name        string
	nameservers []string
	search      []string
	ndots       int
}

func (l *lookupFlags) bind(f *pflag.FlagSet) {
	f.StringVar(&l.from, "lookup-from", "", `resolve --lookup-name inside "pod:<namespace>/<name>" (one of --pod)`)
	f.StringVar(&l.name, "lookup-name", "", "a DNS name to resolve with the pod's resolver")
	f.StringSliceVar(&l.nameservers, "lookup-nameserver", nil, "the pod's nameservers, as its resolv.conf lists them")
	f.StringSliceVar(&l.search, "lookup-search", nil, "the pod's search path, as its resolv.conf lists it")
	f.IntVar(&l.ndots, "lookup-ndots", 5, "the pod's ndots option")
}

// spec checks the flags against the pods named; nil when no lookup is asked for.
func (l lookupFlags) spec(pods []netstack.PodRef) (*collector.LookupSpec, error) {
	if l.name == "" && l.from == "" {
		return nil, nil
	}
	from, ok := strings.CutPrefix(l.from, "pod:")
	if !ok || l.name == "" {
		return nil, fmt.Errorf(`--lookup-from %q and --lookup-name %q: want both, from "pod:<namespace>/<name>"`, l.from, l.name)
	}
	known := false
	for _, p := range pods {
		known = known || p.Namespace+"/"+p.Name == from
	}
	if !known {
		return nil, fmt.Errorf("--lookup-from %s: the pod must also be named by --pod", l.from)
	}
	rc := dnsname.ResolvConf{Search: l.search, Ndots: l.ndots}
	for _, s := range l.nameservers {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("--lookup-nameserver: %w", err)
		}
		rc.Nameservers = append(rc.Nameservers, ip)
	}
	if len(rc.Nameservers) == 0 {
		return nil, fmt.Errorf("--lookup-name %s: name the pod's nameservers with --lookup-nameserver", l.name)
	}
	return &collector.LookupSpec{FromPod: from, Name: l.name, ResolvConf: rc}, nil
}
