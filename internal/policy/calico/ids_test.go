package calico

import "testing"

// Felix's own tests give these names (felix/hashutils/id_test.go, felix/rules/policy_test.go,
// felix/fv/iptables_force_programming_test.go).
func TestChainNamesAsFelix(t *testing.T) {
	for name, tc := range map[string]struct{ got, want string }{
		"short suffix kept":             {LengthLimitedID("felix", "1234", 10), "felix1234"},
		"exact length kept":             {LengthLimitedID("felix", "123456", 11), "felix123456"},
		"exact length with _ is hashed": {LengthLimitedID("felix", "_2345", 10), "felix_kMQI"},
		"too long is hashed":            {LengthLimitedID("felix", "12345678910", 13), "felix_Y2QCZIS"},
		"policy without tier, ingress":  {PolicyID{Name: "long-policy-name-that-gets-hashed"}.ChainName(true, false), "cali-pi-_FJ9yUkNpzshVDh2n7mg"},
		"policy without tier, egress":   {PolicyID{Name: "long-policy-name-that-gets-hashed"}.ChainName(false, false), "cali-po-_FJ9yUkNpzshVDh2n7mg"},
		"global policy of default tier": {PolicyID{Tier: "default", Name: "default.policy-1"}.ChainName(true, false), "cali-pi-_l_CMLPBmpkyZIIwB62k"},
		"nftables allows long names":    {PolicyID{Tier: "default", Namespace: "ns", Name: "default.p"}.ChainName(true, true), "cali-pi-default/ns/default.p"},
		"profile chain":                 {ProfileChainName("kns.a", true, false), "cali-pri-kns.a"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %s, want %s", name, tc.got, tc.want)
		}
	}
}

func TestFlowLogNames(t *testing.T) {
	for name, tc := range map[string]struct {
		hit  Hit
		want string
	}{
		"namespaced policy": {Hit{Tier: "default", Policy: PolicyID{"default", "shop", "default.deny-db"}, Action: Deny, Rule: 0}, "default|shop/default.deny-db|deny|0"},
		"global, tier end":  {Hit{Tier: "security", Policy: PolicyID{"security", "", "security.base"}, Action: Deny, Rule: -1}, "security|security.base|deny|-1"},
		"profile":           {Hit{Tier: ProfileTier, Profile: "kns.shop", Action: Allow}, "__PROFILE__|__PROFILE__.kns.shop|allow|0"},
	} {
		if got := tc.hit.FlowLog(); got != tc.want {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
	}
}
