package kubectlcmd

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
)

// The path of a ClusterIP service with two endpoints, as the controller stores it: each
// branch forward and then its reply, the service's choice where it happens, the hop where a
// branch stops marked. The plugin prints the lines `netdiag diagnose` prints.
func TestWritePathShowsEachBranchForwardThenBack(t *testing.T) {
	hop := func(at, did, packet string) diagv1alpha1.BranchHop {
		return diagv1alpha1.BranchHop{Hop: at, Did: did, Packet: packet}
	}
	fwd := "TCP 10.244.1.5:40000 -> 10.96.0.10:5432"
	p := &diagv1alpha1.PacketPath{
		Hops: []diagv1alpha1.Hop{{ID: "web", Type: diagv1alpha1.HopPod, Name: "shop/web"}},
		Branches: []diagv1alpha1.PathBranch{{
			To: "pod/shop/db-0", Share: "50%", End: diagv1alpha1.BranchDelivered,
			Forward: []diagv1alpha1.BranchHop{
				hop("pod/shop/web", "out eth0", fwd),
				hop("node/node-1", "in veth1, DNAT to 10.244.1.8:5432, out veth2", ""),
				hop("pod/shop/db-0", "in eth0, taken by a socket on 0.0.0.0:5432", ""),
			},
			Reply: []diagv1alpha1.BranchHop{
				hop("pod/shop/db-0", "out eth0", "TCP 10.244.1.8:5432 -> 10.244.1.5:40000"),
				hop("pod/shop/web", "in eth0, reply delivered", ""),
			},
		}, {
			To: "pod/shop/db-1", Share: "50%", End: diagv1alpha1.BranchDropped, Why: "IPTablesDrop",
			Forward: []diagv1alpha1.BranchHop{
				hop("pod/shop/web", "out eth0", fwd),
				{Hop: "node/node-2", Did: "in flannel.1, dropped by filter FORWARD", Failed: true},
			},
		}},
	}
	var b strings.Builder
	writePath(&b, p)
	got := b.String()
	for _, want := range []string{"Branch 1 of 2: to pod/shop/db-0, 50% of new connections: Delivered", "Branch 2 of 2:", "✗"} {
		if !strings.Contains(got, want) {
			t.Errorf("path misses %q:\n%s", want, got)
		}
	}
	order := []string{"Branch 1 of 2", "forward", "DNAT to 10.244.1.8:5432", "reply", "reply delivered", "Branch 2 of 2", "node/node-2"}
	rest := got
	for _, w := range order {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("path does not read %q after the lines before it:\n%s", w, got)
		}
		rest = rest[i+len(w):]
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
