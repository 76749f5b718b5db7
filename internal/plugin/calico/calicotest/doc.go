// Package calicotest builds test clusters in calico's layout, as calico's CNI plugin, felix
// and BIRD lay them (pods on routed /32 cali veths behind 169.254.1.1, each peer's block
// routed, through vxlan.calico or tunl0 in the encapsulating modes, and felix's chains),
// from the calico plugin's own constants, on the generic builder of internal/fixture.
package calicotest
