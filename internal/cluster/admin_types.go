package cluster

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The cluster-wide policies of sigs.k8s.io/network-policy-api, in the JSON shape the API
// serves: AdminNetworkPolicy and BaselineAdminNetworkPolicy (policy.networking.k8s.io
// v1alpha1) and their successor ClusterNetworkPolicy (v1alpha2 and v1beta1, which share one
// schema). Only the fields the engine reads are declared; the API module itself is not
// imported, since its current release pins a newer Go and older k8s.io modules than this
// module builds with, and these few fields are all a diagnosis needs. The controller decodes
// the cluster's objects into these types from unstructured ones; snapshot folders hold them
// as kubectl prints them.

// AdminPolicyGroup is the API group of the three kinds.
const AdminPolicyGroup = "policy.networking.k8s.io"

// The kinds, as the API names them.
const (
	KindAdminNetworkPolicy         = "AdminNetworkPolicy"
	KindBaselineAdminNetworkPolicy = "BaselineAdminNetworkPolicy"
	KindClusterNetworkPolicy       = "ClusterNetworkPolicy"
)

// AdminPolicies holds a snapshot's cluster-wide policies. Clusters have few of them, so they
// are lists, read whole, as the nodes are.
type AdminPolicies struct {
	AdminNetworkPolicies         []AdminNetworkPolicy         `json:"adminNetworkPolicies,omitempty"`
	BaselineAdminNetworkPolicies []BaselineAdminNetworkPolicy `json:"baselineAdminNetworkPolicies,omitempty"`
	ClusterNetworkPolicies       []ClusterNetworkPolicy       `json:"clusterNetworkPolicies,omitempty"`
}

// Any reports whether there is at least one.
func (a *AdminPolicies) Any() bool {
	return len(a.AdminNetworkPolicies)+len(a.BaselineAdminNetworkPolicies)+len(a.ClusterNetworkPolicies) > 0
}

// AdminNetworkPolicy is policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy.
type AdminNetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              AdminNetworkPolicySpec `json:"spec"`
}

// AdminNetworkPolicySpec is an AdminNetworkPolicy's spec: a priority from 0 (first) to 1000.
type AdminNetworkPolicySpec struct {
	Priority int32              `json:"priority"`
	Subject  AdminSubject       `json:"subject"`
	Ingress  []AdminIngressRule `json:"ingress,omitempty"`
	Egress   []AdminEgressRule  `json:"egress,omitempty"`
}

// BaselineAdminNetworkPolicy is policy.networking.k8s.io/v1alpha1 BaselineAdminNetworkPolicy,
// a singleton named default.
type BaselineAdminNetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              BaselineAdminNetworkPolicySpec `json:"spec"`
}

// BaselineAdminNetworkPolicySpec has no priority: there is one baseline policy.
type BaselineAdminNetworkPolicySpec struct {
	Subject AdminSubject       `json:"subject"`
	Ingress []AdminIngressRule `json:"ingress,omitempty"`
	Egress  []AdminEgressRule  `json:"egress,omitempty"`
}

// AdminSubject selects the pods a policy applies to: exactly one field is set.
type AdminSubject struct {
	Namespaces *metav1.LabelSelector `json:"namespaces,omitempty"`
	Pods       *NamespacedPod        `json:"pods,omitempty"`
}

// NamespacedPod selects pods by their namespace's labels and their own. A peer in the shape
// of the API's first release (v0.1.1) names the namespaces in Namespaces instead.
type NamespacedPod struct {
	NamespaceSelector metav1.LabelSelector `json:"namespaceSelector"`
	PodSelector       metav1.LabelSelector `json:"podSelector"`
	Namespaces        *AdminNamespaces     `json:"namespaces,omitempty"`
}

// AdminNamespaces selects the namespaces of a peer: a label selector, as the API has it since
// v0.1.2, or in v0.1.1's shape a namespaceSelector, sameLabels or notSameLabels.
type AdminNamespaces struct {
	metav1.LabelSelector `json:",inline"`
	NamespaceSelector    *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	SameLabels           []string              `json:"sameLabels,omitempty"`
	NotSameLabels        []string              `json:"notSameLabels,omitempty"`
}

// AdminIngressRule is one ingress rule of an AdminNetworkPolicy or BaselineAdminNetworkPolicy.
// Ports nil matches every port; Action is Allow, Deny or (admin tier only) Pass.
type AdminIngressRule struct {
	Name   string       `json:"name,omitempty"`
	Action string       `json:"action"`
	From   []AdminPeer  `json:"from"`
	Ports  *[]AdminPort `json:"ports,omitempty"`
}

// AdminEgressRule is one egress rule.
type AdminEgressRule struct {
	Name   string       `json:"name,omitempty"`
	Action string       `json:"action"`
	To     []AdminPeer  `json:"to"`
	Ports  *[]AdminPort `json:"ports,omitempty"`
}

// AdminPeer is a peer of a rule: exactly one field is set. Nodes, Networks and DomainNames
// are egress peers only.
type AdminPeer struct {
	Namespaces  *AdminNamespaces      `json:"namespaces,omitempty"`
	Pods        *NamespacedPod        `json:"pods,omitempty"`
	Nodes       *metav1.LabelSelector `json:"nodes,omitempty"`
	Networks    []string              `json:"networks,omitempty"`
	DomainNames []string              `json:"domainNames,omitempty"`
}

// AdminPort is one entry of a v1alpha1 rule's ports: exactly one field is set.
type AdminPort struct {
	PortNumber *AdminPortNumber `json:"portNumber,omitempty"`
	NamedPort  *string          `json:"namedPort,omitempty"`
	PortRange  *AdminPortRange  `json:"portRange,omitempty"`
}

// AdminPortNumber is one protocol and port.
type AdminPortNumber struct {
	Protocol corev1.Protocol `json:"protocol"`
	Port     int32           `json:"port"`
}

// AdminPortRange is a protocol (TCP when empty) and an inclusive port range.
type AdminPortRange struct {
	Protocol corev1.Protocol `json:"protocol,omitempty"`
	Start    int32           `json:"start"`
	End      int32           `json:"end"`
}

// ClusterNetworkPolicy is policy.networking.k8s.io ClusterNetworkPolicy (v1alpha2, v1beta1):
// one kind for both tiers, Admin and Baseline, each ordered by priority.
type ClusterNetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ClusterNetworkPolicySpec `json:"spec"`
}

// ClusterNetworkPolicySpec is a ClusterNetworkPolicy's spec; Tier is Admin or Baseline.
type ClusterNetworkPolicySpec struct {
	Tier     string               `json:"tier"`
	Priority int32                `json:"priority"`
	Subject  AdminSubject         `json:"subject"`
	Ingress  []ClusterIngressRule `json:"ingress,omitempty"`
	Egress   []ClusterEgressRule  `json:"egress,omitempty"`
}

// ClusterIngressRule is one ingress rule of a ClusterNetworkPolicy; Action is Accept, Deny
// or Pass, and an empty Protocols matches every protocol and port.
type ClusterIngressRule struct {
	Name      string            `json:"name,omitempty"`
	Action    string            `json:"action"`
	From      []AdminPeer       `json:"from"`
	Protocols []ClusterProtocol `json:"protocols,omitempty"`
}

// ClusterEgressRule is one egress rule of a ClusterNetworkPolicy.
type ClusterEgressRule struct {
	Name      string            `json:"name,omitempty"`
	Action    string            `json:"action"`
	To        []AdminPeer       `json:"to"`
	Protocols []ClusterProtocol `json:"protocols,omitempty"`
}

// ClusterProtocol is one protocol match: exactly one field is set.
type ClusterProtocol struct {
	TCP                  *ClusterProtocolPorts `json:"tcp,omitempty"`
	UDP                  *ClusterProtocolPorts `json:"udp,omitempty"`
	SCTP                 *ClusterProtocolPorts `json:"sctp,omitempty"`
	DestinationNamedPort string                `json:"destinationNamedPort,omitempty"`
}

// ClusterProtocolPorts matches a protocol, on every port when DestinationPort is nil.
type ClusterProtocolPorts struct {
	DestinationPort *ClusterPort `json:"destinationPort,omitempty"`
}

// ClusterPort is a port number or an inclusive range.
type ClusterPort struct {
	Number int32             `json:"number,omitempty"`
	Range  *ClusterPortRange `json:"range,omitempty"`
}

// ClusterPortRange is an inclusive port range.
type ClusterPortRange struct {
	Start int32 `json:"start"`
	End   int32 `json:"end"`
}
