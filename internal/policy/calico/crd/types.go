package crd

import (
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Group and Version are where the cluster stores Calico's objects.
const (
	Group   = "crd.projectcalico.org"
	Version = "v1"
)

// Kinds the model reads, with their plural resource names.
const (
	KindTier                = "Tier"
	KindNetworkPolicy       = "NetworkPolicy"
	KindGlobalNetworkPolicy = "GlobalNetworkPolicy"
	KindHostEndpoint        = "HostEndpoint"
	KindNetworkSet          = "NetworkSet"
	KindGlobalNetworkSet    = "GlobalNetworkSet"
)

// Resources maps each kind to its resource (plural) name.
var Resources = map[string]string{
	KindTier:                "tiers",
	KindNetworkPolicy:       "networkpolicies",
	KindGlobalNetworkPolicy: "globalnetworkpolicies",
	KindHostEndpoint:        "hostendpoints",
	KindNetworkSet:          "networksets",
	KindGlobalNetworkSet:    "globalnetworksets",
}

// Tier orders policies: tiers are evaluated by ascending order, then name.
type Tier struct {
	metav1.ObjectMeta `json:"metadata"`
	Spec              TierSpec `json:"spec"`
}

// TierSpec is a tier's order and what happens at its end.
type TierSpec struct {
	// Order is nil for "after every ordered tier".
	Order *float64 `json:"order,omitempty"`
	// DefaultAction is Deny (the default) or Pass: what a packet meets when policies of the
	// tier select its endpoint and none decides.
	DefaultAction string `json:"defaultAction,omitempty"`
}

// Policy is a NetworkPolicy (namespaced) or a GlobalNetworkPolicy (cluster-wide); the stored
// name carries the tier as its prefix ("default.allow-web", "security.deny-db").
type Policy struct {
	Kind              string `json:"kind,omitempty"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              PolicySpec `json:"spec"`
}

// PolicySpec is the part of a policy's spec the model reads.
type PolicySpec struct {
	Tier     string   `json:"tier,omitempty"`
	Order    *float64 `json:"order,omitempty"`
	Selector string   `json:"selector,omitempty"`
	// NamespaceSelector restricts a GlobalNetworkPolicy to endpoints of the namespaces it
	// selects.
	NamespaceSelector      string   `json:"namespaceSelector,omitempty"`
	ServiceAccountSelector string   `json:"serviceAccountSelector,omitempty"`
	Types                  []string `json:"types,omitempty"`
	Ingress                []Rule   `json:"ingress,omitempty"`
	Egress                 []Rule   `json:"egress,omitempty"`
	DoNotTrack             bool     `json:"doNotTrack,omitempty"`
	PreDNAT                bool     `json:"preDNAT,omitempty"`
	ApplyOnForward         bool     `json:"applyOnForward,omitempty"`
}

// Rule is one rule of a policy.
type Rule struct {
	Action      string              `json:"action"`
	IPVersion   *int                `json:"ipVersion,omitempty"`
	Protocol    *intstr.IntOrString `json:"protocol,omitempty"`
	NotProtocol *intstr.IntOrString `json:"notProtocol,omitempty"`
	ICMP        *ICMPFields         `json:"icmp,omitempty"`
	NotICMP     *ICMPFields         `json:"notICMP,omitempty"`
	Source      EntityRule          `json:"source,omitzero"`
	Destination EntityRule          `json:"destination,omitzero"`
	// HTTP and the rest are kept only to know the rule asks for what the model does not
	// evaluate.
	HTTP json.RawMessage `json:"http,omitempty"`
}

// ICMPFields matches an ICMP type and, with it, a code.
type ICMPFields struct {
	Type *int `json:"type,omitempty"`
	Code *int `json:"code,omitempty"`
}

// EntityRule is a rule's source or destination.
type EntityRule struct {
	Nets              []string               `json:"nets,omitempty"`
	NotNets           []string               `json:"notNets,omitempty"`
	Selector          string                 `json:"selector,omitempty"`
	NotSelector       string                 `json:"notSelector,omitempty"`
	NamespaceSelector string                 `json:"namespaceSelector,omitempty"`
	Ports             []intstr.IntOrString   `json:"ports,omitempty"`
	NotPorts          []intstr.IntOrString   `json:"notPorts,omitempty"`
	ServiceAccounts   *ServiceAccountMatch   `json:"serviceAccounts,omitempty"`
	Services          map[string]interface{} `json:"services,omitempty"`
}

// ServiceAccountMatch matches endpoints by their service account's name or labels.
type ServiceAccountMatch struct {
	Names    []string `json:"names,omitempty"`
	Selector string   `json:"selector,omitempty"`
}

// HostEndpoint is one of a node's interfaces (or all of them, "*") under policy.
type HostEndpoint struct {
	metav1.ObjectMeta `json:"metadata"`
	Spec              HostEndpointSpec `json:"spec"`
}

// HostEndpointSpec says which interface of which node, with its addresses and profiles.
type HostEndpointSpec struct {
	Node          string         `json:"node,omitempty"`
	InterfaceName string         `json:"interfaceName,omitempty"`
	ExpectedIPs   []string       `json:"expectedIPs,omitempty"`
	Profiles      []string       `json:"profiles,omitempty"`
	Ports         []EndpointPort `json:"ports,omitempty"`
}

// EndpointPort is a named port of a host endpoint.
type EndpointPort struct {
	Name     string             `json:"name"`
	Protocol intstr.IntOrString `json:"protocol"`
	Port     uint16             `json:"port"`
}

// NetworkSet is a NetworkSet (namespaced) or a GlobalNetworkSet: labelled nets that rule
// selectors select as if they were endpoints.
type NetworkSet struct {
	Kind              string `json:"kind,omitempty"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              NetworkSetSpec `json:"spec"`
}

// NetworkSetSpec holds the nets.
type NetworkSetSpec struct {
	Nets []string `json:"nets,omitempty"`
}

// Objects are Calico's objects of a cluster, as lists.
type Objects struct {
	Tiers                 []Tier
	NetworkPolicies       []Policy
	GlobalNetworkPolicies []Policy
	HostEndpoints         []HostEndpoint
	NetworkSets           []NetworkSet
	GlobalNetworkSets     []NetworkSet
}

// Empty reports whether there is no Calico object at all.
func (o *Objects) Empty() bool {
	return o == nil || len(o.Tiers)+len(o.NetworkPolicies)+len(o.GlobalNetworkPolicies)+
		len(o.HostEndpoints)+len(o.NetworkSets)+len(o.GlobalNetworkSets) == 0
}

// maxObject bounds one stored object's JSON: etcd holds at most 1.5 MiB per object.
const maxObject = 3 << 20

// Add decodes one stored object (its JSON, as the API server returns it) by its kind and
// appends it; it reports false for a kind or group that is none of Calico's policy objects.
func (o *Objects) Add(data []byte) (bool, error) {
	if len(data) > maxObject {
		return false, fmt.Errorf("calico object of %d bytes is larger than %d", len(data), maxObject)
	}
	var head metav1.TypeMeta
	if err := json.Unmarshal(data, &head); err != nil {
		return false, fmt.Errorf("read calico object: %w", err)
	}
	if gv, err := parseGroup(head.APIVersion); err != nil || gv != Group {
		return false, nil
	}
	var err error
	switch head.Kind {
	case KindTier:
		err = appendDecoded(&o.Tiers, data)
	case KindNetworkPolicy:
		err = appendDecoded(&o.NetworkPolicies, data)
	case KindGlobalNetworkPolicy:
		err = appendDecoded(&o.GlobalNetworkPolicies, data)
	case KindHostEndpoint:
		err = appendDecoded(&o.HostEndpoints, data)
	case KindNetworkSet:
		err = appendDecoded(&o.NetworkSets, data)
	case KindGlobalNetworkSet:
		err = appendDecoded(&o.GlobalNetworkSets, data)
	default:
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read calico %s: %w", head.Kind, err)
	}
	return true, nil
}

// AddUnstructured is Add for an object read as unstructured content.
func (o *Objects) AddUnstructured(content map[string]any) (bool, error) {
	data, err := json.Marshal(content)
	if err != nil {
		return false, fmt.Errorf("encode calico object: %w", err)
	}
	return o.Add(data)
}

func appendDecoded[T any](list *[]T, data []byte) error {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*list = append(*list, v)
	return nil
}

func parseGroup(apiVersion string) (string, error) {
	for i := range len(apiVersion) {
		if apiVersion[i] == '/' {
			return apiVersion[:i], nil
		}
	}
	return "", fmt.Errorf("apiVersion %q has no group", apiVersion)
}

// Items returns every object stamped with its apiVersion and kind, as the API server
// prints them, tiers first; Add reads each back.
func (o *Objects) Items() ([]map[string]any, error) {
	var out []map[string]any
	add := func(kind string, v any) error {
		data, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode calico %s: %w", kind, err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("encode calico %s: %w", kind, err)
		}
		m["apiVersion"], m["kind"] = Group+"/"+Version, kind
		out = append(out, m)
		return nil
	}
	for i := range o.Tiers {
		if err := add(KindTier, &o.Tiers[i]); err != nil {
			return nil, err
		}
	}
	for _, group := range []struct {
		kind string
		list []Policy
	}{{KindNetworkPolicy, o.NetworkPolicies}, {KindGlobalNetworkPolicy, o.GlobalNetworkPolicies}} {
		for i := range group.list {
			if err := add(group.kind, &group.list[i]); err != nil {
				return nil, err
			}
		}
	}
	for i := range o.HostEndpoints {
		if err := add(KindHostEndpoint, &o.HostEndpoints[i]); err != nil {
			return nil, err
		}
	}
	for _, group := range []struct {
		kind string
		list []NetworkSet
	}{{KindNetworkSet, o.NetworkSets}, {KindGlobalNetworkSet, o.GlobalNetworkSets}} {
		for i := range group.list {
			if err := add(group.kind, &group.list[i]); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
