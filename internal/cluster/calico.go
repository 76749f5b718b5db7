package cluster

import (
	"cmp"
	"slices"

	"github.com/netdiag/netdiag/internal/policy/calico/crd"
)

// CalicoObjects are the lookups of Calico's policy objects. Policies are looked up by the
// namespace of the endpoint they may select (the global ones are few); host endpoints and
// network sets are listed, being few and matched by address rather than by a key.
type CalicoObjects interface {
	// CalicoTiers returns the Tier objects.
	CalicoTiers() []*crd.Tier
	// CalicoGlobalNetworkPolicies returns every GlobalNetworkPolicy.
	CalicoGlobalNetworkPolicies() []*crd.Policy
	// CalicoNetworkPoliciesIn returns the Calico NetworkPolicies of a namespace.
	CalicoNetworkPoliciesIn(namespace string) []*crd.Policy
	// CalicoHostEndpoints returns every HostEndpoint.
	CalicoHostEndpoints() []*crd.HostEndpoint
	// CalicoNetworkSets returns every NetworkSet and GlobalNetworkSet.
	CalicoNetworkSets() []*crd.NetworkSet
}

// WithCalico makes objects answer the snapshot's Calico lookups, in place of its Calico
// lists; the controller passes its cache's.
func (s *Snapshot) WithCalico(objects CalicoObjects) *Snapshot {
	s.calico = objects
	return s
}

// CalicoObjects returns the lookups of Calico's objects, or nil when the snapshot has none
// (a cluster without Calico's CRDs).
func (s *Snapshot) CalicoObjects() CalicoObjects {
	if s.calico != nil {
		return s.calico
	}
	if s.Calico.Empty() {
		return nil
	}
	return calicoLists{&s.Calico}
}

// calicoLists answers the lookups from the snapshot's lists, in namespace/name order.
type calicoLists struct{ o *crd.Objects }

func (l calicoLists) CalicoTiers() []*crd.Tier { return pointers(l.o.Tiers, nil) }

func (l calicoLists) CalicoGlobalNetworkPolicies() []*crd.Policy {
	return pointers(l.o.GlobalNetworkPolicies, nil)
}

func (l calicoLists) CalicoNetworkPoliciesIn(namespace string) []*crd.Policy {
	return pointers(l.o.NetworkPolicies, func(p *crd.Policy) bool { return p.Namespace == namespace })
}

func (l calicoLists) CalicoHostEndpoints() []*crd.HostEndpoint {
	return pointers(l.o.HostEndpoints, nil)
}

func (l calicoLists) CalicoNetworkSets() []*crd.NetworkSet {
	return append(pointers(l.o.NetworkSets, nil), pointers(l.o.GlobalNetworkSets, nil)...)
}

// named is what SortByName needs of Calico's objects.
type named interface {
	GetNamespace() string
	GetName() string
}

func pointers[T any, P interface {
	*T
	named
}](list []T, keep func(P) bool) []P {
	var out []P
	for i := range list {
		if p := P(&list[i]); keep == nil || keep(p) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b P) int {
		return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
	})
	return out
}

// CalicoLists answers the Calico lookups from lists.
func CalicoLists(o *crd.Objects) CalicoObjects { return calicoLists{o} }
