package calicotest_test

import (
	"net/netip"
	"testing"

	"github.com/netdiag/netdiag/internal/plugin/calico"
	"github.com/netdiag/netdiag/internal/plugin/calico/calicotest"
	"github.com/netdiag/netdiag/internal/plugins"
)

// TestLayoutReadsAsCalico checks that the plugin reads a built cluster as the layout meant
// it: detected as calico by calico-node, each node holding its /26 block, and each pod's
// host end named as calico's CNI plugin names it.
func TestLayoutReadsAsCalico(t *testing.T) {
	for _, mode := range []string{calicotest.Routed, calicotest.VXLAN, calicotest.IPIP} {
		t.Run(mode, func(t *testing.T) {
			c := calicotest.New(mode, 2).Pod("default", "a", 1, nil, 80).Build()
			d, ok := plugins.Registry().Detect(c.Snapshot)
			if !ok || d.Plugin.Name != calico.Name {
				t.Fatalf("detected %q (%v), want %s", d.Plugin.Name, ok, calico.Name)
			}
			node := &c.Snapshot.Nodes[1]
			blocks := calico.Blocks(node, c.Host(node.Name))
			if want := netip.MustParsePrefix("10.244.1.0/26"); len(blocks) != 1 || blocks[0] != want {
				t.Errorf("blocks of %s: %v, want [%s]", node.Name, blocks, want)
			}
			if !blocks[0].Contains(c.PodIP("default", "a")) {
				t.Errorf("pod a (%s) is outside its node's block %s", c.PodIP("default", "a"), blocks[0])
			}
			if c.Host(node.Name).InterfaceByName(calico.VethName(calico.DefaultInterfacePrefix, "default", "a")) == nil {
				t.Errorf("node %s has no cali veth for pod a", node.Name)
			}
		})
	}
}
