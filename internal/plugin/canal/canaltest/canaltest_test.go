package canaltest_test

import (
	"testing"

	"github.com/netdiag/netdiag/internal/plugin/canal"
	"github.com/netdiag/netdiag/internal/plugin/canal/canaltest"
	"github.com/netdiag/netdiag/internal/plugins"
)

// TestLayoutReadsAsCanal checks that a built cluster is detected as canal, over the flannel
// and calico that its DaemonSet's images and the nodes' annotations also show, and that its
// pods have no bridge to hang off.
func TestLayoutReadsAsCanal(t *testing.T) {
	for _, backend := range []string{canaltest.VXLAN, canaltest.HostGW} {
		t.Run(backend, func(t *testing.T) {
			c := canaltest.New(backend, 2).Pod("default", "a", 0, nil, 80).Build()
			d, ok := plugins.Registry().Detect(c.Snapshot)
			if !ok || d.Plugin.Name != canal.Name {
				t.Fatalf("detected %q (%v), want %s", d.Plugin.Name, ok, canal.Name)
			}
			h := c.Host("node-0")
			if h.InterfaceByName("cni0") != nil {
				t.Error("node-0 has a cni0 bridge; canal's pods are on calico's /32 veths")
			}
			if h.InterfaceByName(canaltest.VethName("default", "a")) == nil {
				t.Errorf("node-0 has no %s for pod default/a", canaltest.VethName("default", "a"))
			}
		})
	}
}
