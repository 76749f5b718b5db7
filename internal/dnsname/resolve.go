package dnsname

import (
	"fmt"
	"strings"

	"github.com/netdiag/netdiag/internal/cluster"
)

// maxAliases bounds the ExternalName aliases followed, as a resolver bounds a CNAME chain.
const maxAliases = 8

// Resolution is how a name resolved, or why it did not.
type Resolution struct {
	// Name is the name as asked.
	Name string
	// Tried are the names asked, in order, up to the one that answered.
	Tried []string
	// Record is the cluster DNS's answer; nil when the cluster does not answer the name.
	Record *Record
	// Aliases are the ExternalName Services followed on the way, as "ns/name -> target".
	Aliases []string
	// External is the name the cluster DNS forwards outside the cluster (a name outside the
	// cluster domain, or an ExternalName's target outside it): only the source's own
	// resolver knows its address.
	External string
}

// Resolved reports whether the cluster answered with at least one address.
func (r Resolution) Resolved() bool { return r.Record != nil && len(r.Record.Addrs) > 0 }

// Resolve resolves name as a resolver with rc does against the cluster DNS serving domain:
// each candidate inside the domain is answered from the snapshot, NXDOMAIN moves to the
// next, an ExternalName is followed, and the first candidate outside the domain is left to
// the source's resolver (External).
func Resolve(snap *cluster.Snapshot, domain string, rc ResolvConf, name string) Resolution {
	res := Resolution{Name: name}
	for _, c := range Candidates(name, rc) {
		res.Tried = append(res.Tried, c)
		rec, inDomain, ok := Lookup(snap, domain, c)
		if !inDomain {
			// The cluster DNS forwards it upstream. A search domain of the node's almost
			// always answers NXDOMAIN there and the resolver goes on; the name itself, when
			// nothing in the cluster answered, is for the source's resolver to find.
			if c == Canonical(name) && strings.Contains(c, ".") {
				res.External = c
				return res
			}
			// A single label asked as it is is a top-level domain, which never has an
			// address: the forwarder's answer is NXDOMAIN.
			continue
		}
		if !ok {
			continue
		}
		return follow(snap, domain, res, rec)
	}
	return res
}

// follow resolves an ExternalName's alias as CoreDNS does: inside the cluster domain it
// answers the target itself, outside it the resolver must.
func follow(snap *cluster.Snapshot, domain string, res Resolution, rec Record) Resolution {
	for range maxAliases {
		if rec.Kind != KindExternalName {
			res.Record = &rec
			return res
		}
		res.Aliases = append(res.Aliases, fmt.Sprintf("%s/%s -> %s", rec.Namespace, rec.Service, rec.Alias))
		next, inDomain, ok := Lookup(snap, domain, rec.Alias)
		if !inDomain {
			res.External = rec.Alias
			return res
		}
		if !ok {
			return res
		}
		rec = next
	}
	return res
}

// Describe says in a sentence how the name resolved.
func (r Resolution) Describe() string {
	via := ""
	if len(r.Aliases) > 0 {
		via = " through " + strings.Join(r.Aliases, ", ")
	}
	switch {
	case r.Resolved():
		return fmt.Sprintf("%s resolves to %s as %s%s, answered from the cluster's objects", r.Name, joinAddrs(r.Record.Addrs), r.Record.String(), via)
	case r.Record != nil:
		return fmt.Sprintf("%s names %s%s, which has no ready address", r.Name, r.Record.String(), via)
	case r.External != "":
		return fmt.Sprintf("%s is resolved outside the cluster, as %s%s, by the source's resolver", r.Name, r.External, via)
	}
	return fmt.Sprintf("%s does not resolve: the cluster DNS answers NXDOMAIN for %s%s", r.Name, strings.Join(r.Tried, ", "), via)
}
