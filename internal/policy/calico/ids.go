package calico

import (
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
)

// Tier names Calico gives itself.
const (
	// TierDefault holds the policies that name no tier, and Kubernetes NetworkPolicies.
	TierDefault = "default"
	// DefaultTierOrder is the default tier's order when no Tier object says otherwise.
	DefaultTierOrder = 1_000_000
	// AdminTierOrder is the order of the tier, adminnetworkpolicy, in which Calico puts
	// AdminNetworkPolicy: before the default tier, after any tier ordered lower.
	AdminTierOrder = 1000
	// KNPOrder is the order Calico gives every Kubernetes NetworkPolicy.
	KNPOrder = 1000
	// KNPPrefix starts the name Calico gives a Kubernetes NetworkPolicy.
	KNPPrefix = "knp.default."
	// ProfileTier is what flow logs write in the tier's place for a profile.
	ProfileTier = "__PROFILE__"
	// NoMatch stands for the profile when no profile decides.
	NoMatch = "__NO_MATCH__"
)

// PolicyID names a policy as felix knows it: its tier, its namespace ("" for a global
// policy) and its stored name, which carries the tier as its prefix.
type PolicyID struct {
	Tier      string
	Namespace string
	Name      string
}

// String is the policy as flow logs write it: "ns/tier.name", or "tier.name" for a global
// policy.
func (id PolicyID) String() string {
	if id.Namespace == "" {
		return id.Name
	}
	return id.Namespace + "/" + id.Name
}

// ShortName is the name a person gave the policy: without the tier prefix of the default
// tier, as calicoctl and kubectl show it.
func (id PolicyID) ShortName() string {
	if n, ok := strings.CutPrefix(id.Name, TierDefault+"."); ok && !strings.HasPrefix(id.Name, KNPPrefix) {
		return n
	}
	if n, ok := strings.CutPrefix(id.Name, KNPPrefix); ok {
		return n
	}
	return id.Name
}

// Kind is what kind of object the policy is.
func (id PolicyID) Kind() string {
	switch {
	case strings.HasPrefix(id.Name, KNPPrefix):
		return "Kubernetes NetworkPolicy"
	case id.Namespace == "":
		return "GlobalNetworkPolicy"
	}
	return "NetworkPolicy"
}

// Felix's chain name prefixes and limits (felix/rules/rule_defs.go, felix/iptables).
const (
	ChainPolicyIngress  = "cali-pi-"
	ChainPolicyEgress   = "cali-po-"
	ChainProfileIngress = "cali-pri-"
	ChainProfileEgress  = "cali-pro-"
	// maxIPTablesChain is iptables' bound on a chain name; nftables' is 256.
	maxIPTablesChain = 28
	maxNFTablesChain = 256
)

// ChainName is the chain felix programs for the policy's ingress or egress rules: the
// prefix and "tier/namespace/name" (felix's PolicyChainName), or, where that is longer than
// the backend allows, "_" and the start of the base64url SHA-256 of it (felix's
// hashutils.GetLengthLimitedID).
func (id PolicyID) ChainName(ingress, nft bool) string {
	prefix := ChainPolicyEgress
	if ingress {
		prefix = ChainPolicyIngress
	}
	suffix := id.Tier + "/" + id.Name
	if id.Namespace != "" {
		suffix = id.Tier + "/" + id.Namespace + "/" + id.Name
	}
	return LengthLimitedID(prefix, suffix, chainLimit(nft))
}

// ProfileChainName is the chain felix programs for a profile's rules.
func ProfileChainName(profile string, ingress, nft bool) string {
	prefix := ChainProfileEgress
	if ingress {
		prefix = ChainProfileIngress
	}
	return LengthLimitedID(prefix, profile, chainLimit(nft))
}

func chainLimit(nft bool) int {
	if nft {
		return maxNFTablesChain
	}
	return maxIPTablesChain
}

// LengthLimitedID is felix's hashutils.GetLengthLimitedID: prefix+suffix when it fits
// maxLength (and, at exactly maxLength, does not start its suffix with the "_" that marks a
// hash), else prefix, "_" and as much of the base64url SHA-256 of suffix as fits.
func LengthLimitedID(prefix, suffix string, maxLength int) string {
	total := len(prefix) + len(suffix)
	if total > maxLength || (total == maxLength && strings.HasPrefix(suffix, "_")) {
		sum := sha256.Sum256([]byte(suffix))
		hash := base64.RawURLEncoding.EncodeToString(sum[:])
		return prefix + "_" + hash[:maxLength-1-len(prefix)]
	}
	return prefix + suffix
}

// Action is what a rule, a tier's end or a profile does with a packet.
type Action string

const (
	Allow Action = "Allow"
	Deny  Action = "Deny"
	Pass  Action = "Pass"
	Log   Action = "Log"
)

// Hit is one decision on the way: a rule of a policy, a tier's end (Rule -1), or a profile.
type Hit struct {
	Tier   string
	Policy PolicyID
	// Profile names the profile when the hit is one ("kns.shop"); Policy is then empty.
	Profile string
	Action  Action
	// Rule is the index of the rule in the policy's ingress or egress list, -1 for the
	// tier's end (or no profile deciding).
	Rule int
}

// FlowLog writes the hit as Calico's flow logs do: `<tier>|<policy>|<action>|<rule>`.
func (h Hit) FlowLog() string {
	tier, name := h.Tier, h.Policy.String()
	if h.Profile != "" || h.Tier == ProfileTier {
		tier, name = ProfileTier, ProfileTier+"."+h.Profile
	}
	return tier + "|" + name + "|" + strings.ToLower(string(h.Action)) + "|" + strconv.Itoa(h.Rule)
}
