package cilium_test

import (
	"strings"
	"testing"

	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/fixture/flowtest"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin/cilium"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
	"github.com/netdiag/netdiag/internal/plugin/plugintest"
)

// twoNodes is the flow workload with cilium's DaemonSet and its pods' host veths named as
// cilium names them (lxc...): the kernel's part of the data plane is flannel's host-gw,
// which cilium's native routing resembles.
func twoNodes() *fixture.Cluster {
	c := flowtest.TwoNodes(flanneltest.New(flanneltest.HostGW, 2))
	c.Snapshot.DaemonSets = append(c.Snapshot.DaemonSets[:0], fixture.DaemonSet("kube-system", "cilium", "rancher/mirrored-cilium-cilium:v1.16.5"))
	for _, n := range []string{"node-0", "node-1"} {
		h := c.Host(n)
		for i := range h.Interfaces {
			if strings.HasPrefix(h.Interfaces[i].Name, "veth") {
				h.Interfaces[i].Name = cilium.PodVethPrefix + strings.TrimPrefix(h.Interfaces[i].Name, "veth")
			}
		}
	}
	return c
}

// TestFlowsCilium checks that a packet that meets cilium's eBPF devices is Unknown, naming
// the device, and that one that does not is diagnosed as usual.
func TestFlowsCilium(t *testing.T) {
	tcp := model.TCP
	cases := map[string]plugintest.Flow{
		"pod to pod: the pod's veth is cilium's": {
			Want: diagnose.Unknown, Info: []model.Reason{cilium.ReasonEBPFDataPlane},
		},
		"node to a pod on another node: cilium routes it": {
			Src: "node:node-0", Dst: "pod:default/db", Proto: tcp, Port: 5432,
			Want: diagnose.Unknown, Info: []model.Reason{cilium.ReasonEBPFDataPlane},
		},
		"node to node over the underlay": {
			Src: "node:node-0", Dst: "node:node-1", Proto: tcp, Port: 10250,
			Want: diagnose.Reachable, Via: []string{"node/node-0", "node/node-1"},
		},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) { plugintest.Run(t, cilium.Name, twoNodes(), f) })
	}
}
