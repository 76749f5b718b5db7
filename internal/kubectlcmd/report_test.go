package kubectlcmd

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
)

// The path of a ClusterIP service with two endpoints, as the controller stores it: the links
// in the order the engine followed them, each branch forward and then its reply.
func TestWritePathShowsEachWayInOrder(t *testing.T) {
	hop := func(id string, typ diagv1alpha1.HopType, name, node string) diagv1alpha1.Hop {
		return diagv1alpha1.Hop{ID: id, Type: typ, Name: name, Node: node}
	}
	link := func(from, to, typ, packet string) diagv1alpha1.Link {
		return diagv1alpha1.Link{From: from, To: to, Type: typ, FromInterface: "eth0", Packet: packet}
	}
	p := &diagv1alpha1.PacketPath{
		Hops: []diagv1alpha1.Hop{
			hop("web", diagv1alpha1.HopPod, "shop/web", "node-1"),
			hop("n1", diagv1alpha1.HopNode, "node-1", ""),
			hop("svc", diagv1alpha1.HopService, "shop/db", ""),
			hop("db-0", diagv1alpha1.HopPod, "shop/db-0", "node-1"),
			hop("db-1", diagv1alpha1.HopPod, "shop/db-1", "node-2"),
			hop("n2", diagv1alpha1.HopNode, "node-2", ""),
		},
		Links: []diagv1alpha1.Link{
			link("web", "n1", "veth", "TCP 10.244.1.5:40000 -> 10.96.0.10:5432"),
			link("n1", "svc", "service", "TCP 10.244.1.5:40000 -> 10.244.1.8:5432"),
			link("svc", "db-0", "veth", "TCP 10.244.1.5:40000 -> 10.244.1.8:5432"),
			link("db-0", "web", "veth", "TCP 10.244.1.8:5432 -> 10.244.1.5:40000"),
			link("svc", "n2", "vxlan", "TCP 10.244.1.5:40000 -> 10.244.2.7:5432"),
			link("n2", "db-1", "veth", "TCP 10.244.1.5:40000 -> 10.244.2.7:5432"),
		},
	}
	p.Hops[4].Failed = true
	var b strings.Builder
	writePath(&b, p)
	want := `
Path:
  ● pod shop/web on node-1
    │ veth eth0  TCP 10.244.1.5:40000 -> 10.96.0.10:5432
  ● node node-1
    │ service eth0  TCP 10.244.1.5:40000 -> 10.244.1.8:5432
  ● service shop/db
    │ veth eth0  TCP 10.244.1.5:40000 -> 10.244.1.8:5432
  ● pod shop/db-0 on node-1
  reply:
  ● pod shop/db-0 on node-1
    │ veth eth0  TCP 10.244.1.8:5432 -> 10.244.1.5:40000
  ● pod shop/web on node-1
  another endpoint of shop/db:
  ● service shop/db
    │ vxlan eth0  TCP 10.244.1.5:40000 -> 10.244.2.7:5432
  ● node node-2
    │ veth eth0  TCP 10.244.1.5:40000 -> 10.244.2.7:5432
  ● pod shop/db-1 on node-2  ✗ stops here
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("path (-want +got):\n%s", diff)
	}
}

func TestWritePathOfOneHop(t *testing.T) {
	var b strings.Builder
	writePath(&b, &diagv1alpha1.PacketPath{Hops: []diagv1alpha1.Hop{{ID: "db", Type: diagv1alpha1.HopPod, Name: "shop/db", Node: "node-2", Failed: true}}, Truncated: true})
	want := "\nPath:\n  ● pod shop/db on node-2  ✗ stops here\n  … the path was cut to keep the status small\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("path (-want +got):\n%s", diff)
	}
}
