package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The background lab must get the options however they were written: `ndlab --name demo up`
// names the lab demo, not the default.
func TestServeArgs(t *testing.T) {
	for name, tc := range map[string]struct {
		o    options
		want []string
	}{
		"defaults": {
			o:    options{name: "ndlab", nodes: 2, mode: "flannel-vxlan", proxyMode: "iptables", apiPort: 16443},
			want: []string{"serve", "--name", "ndlab", "--nodes", "2", "--mode", "flannel-vxlan", "--proxy-mode", "iptables", "--api-port", "16443"},
		},
		"every option": {
			o: options{name: "demo", dir: "/tmp/d", nodes: 3, mode: "calico-vxlan", proxyMode: "nftables", felix: "nftables", apiPort: 0,
				images: []string{"netdiag:dev=/bin/netdiag", "x:1=/bin/x"}, nodeKind: "real", archives: []string{"netdiag:dev=/bin/netdiag.oci.tar"}},
			want: []string{"serve", "--name", "demo", "--nodes", "3", "--mode", "calico-vxlan", "--proxy-mode", "nftables", "--api-port", "0",
				"--dir", "/tmp/d", "--felix-dataplane", "nftables", "--image", "netdiag:dev=/bin/netdiag", "--image", "x:1=/bin/x",
				"--node-kind", "real", "--image-archive", "netdiag:dev=/bin/netdiag.oci.tar"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, serveArgs(&tc.o)); diff != "" {
				t.Errorf("serveArgs (-want +got):\n%s", diff)
			}
		})
	}
}
