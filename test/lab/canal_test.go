package lab

import (
	"strings"
	"testing"
)

// TestCanal brings a canal lab up, real flanneld and felix in policy-only mode, and shows
// that the pods' traffic works on calico's veths over flannel's vxlan, with felix's chains.
func TestCanal(t *testing.T) {
	l := upForTest(t, "ndlabcn", ModeCanal, ProxyIPTables, func(c *Config) { c.FelixDataplane = FelixIPTables })
	pods, svc := shop(t, l)
	probeAll(t, dataPlaneCases(t, l, pods, svc))
	n1, n2 := l.Nodes()[0], l.Nodes()[1]
	db := pods[1]
	veth := calicoVethName(db.Namespace, db.Name)
	if rules := felixRules(t, l, n2); !strings.Contains(rules, "cali-tw-"+veth) {
		t.Errorf("felix on %s has no cali-tw-%s chain for pod %s", n2.Name, veth, db.Name)
	}
	out, err := run(t.Context(), "ip", "-n", n1.Netns, "route", "show", n2.PodCIDR.String())
	if err != nil || !strings.Contains(string(out), "dev flannel.1") {
		t.Errorf("%s routes %s by %q (%v), want flannel's vxlan", n1.Name, n2.PodCIDR, out, err)
	}
}
