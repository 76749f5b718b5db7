package flanneltest_test

import (
	"testing"

	"github.com/netdiag/netdiag/internal/plugin/flannel"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
	"github.com/netdiag/netdiag/internal/plugins"
)

// TestLayoutReadsAsFlannel checks that the plugin reads a built cluster as the layout meant
// it: detected as flannel by its DaemonSet, each node in the backend it was built with.
func TestLayoutReadsAsFlannel(t *testing.T) {
	for _, backend := range []string{flanneltest.VXLAN, flanneltest.HostGW} {
		t.Run(backend, func(t *testing.T) {
			c := flanneltest.New(backend, 2).Pod("default", "a", 0, nil, 80).Build()
			d, ok := plugins.Registry().Detect(c.Snapshot)
			if !ok || d.Plugin.Name != flannel.Name {
				t.Fatalf("detected %q (%v), want %s", d.Plugin.Name, ok, flannel.Name)
			}
			p := flannel.New(nil, *flannel.NewConfig())
			for i := range c.Snapshot.Nodes {
				n := &c.Snapshot.Nodes[i]
				if got := p.Backend(n, c.Host(n.Name)); got != backend {
					t.Errorf("node %s: backend %s, want %s", n.Name, got, backend)
				}
			}
		})
	}
}
