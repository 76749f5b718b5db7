package statuspath

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/fixture/flowtest"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/snapshotdir"
)

// TestStatusDrawsTheSameBranches writes the branches of recorded paths into the status and
// reads them back: a client of the status draws the branches as `netdiag diagnose` does.
func TestStatusDrawsTheSameBranches(t *testing.T) {
	cases := map[string]struct {
		dir, src, dst string
		port          uint16
	}{
		"a service with an endpoint on each node": {"flannel-vxlan", "pod:shop/client", "service:shop/web", 80},
		"a DROP in FORWARD":                       {"flannel-host-gw-forward-drop", "pod:shop/client", "pod:shop/db", 5432},
		"a policy drop under calico":              {"calico-routed", "pod:shop/client", "pod:shop/db", 5432},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			snap, nodes, err := snapshotdir.Load(filepath.Join("..", "..", "testdata", c.dir))
			if err != nil {
				t.Fatal(err)
			}
			resolve := func(s string) model.Endpoint { return flowtest.Endpoint(t, snap, diagnose.ParseEndpointRef, s) }
			res, err := diagnose.Diagnose(diagnose.Input{Cluster: snap, Nodes: nodes, Question: model.Question{Source: resolve(c.src), Destination: resolve(c.dst), Protocol: model.TCP, Port: c.port}})
			if err != nil {
				t.Fatal(err)
			}
			branches := diagnose.Branches(res)
			stored, cut := Branches(branches)
			if cut {
				t.Fatal("a short path was cut")
			}
			var want, got strings.Builder
			if err := diagnose.WriteBranches(&want, branches, diagnose.TextOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := diagnose.WriteBranches(&got, Report(&diagv1alpha1.PacketPath{Branches: stored}), diagnose.TextOptions{}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(want.String(), "Branch 1 of ") {
				t.Fatalf("no branch drawn:\n%s", want.String())
			}
			if diff := cmp.Diff(want.String(), got.String()); diff != "" {
				t.Errorf("branches from the status (-report +status):\n%s", diff)
			}
		})
	}
}

// TestBranchesAreBounded cuts many branches, and long ones, to the API's limits.
func TestBranchesAreBounded(t *testing.T) {
	long := make([]diagnose.ReportBranchHop, 50)
	for i := range long {
		long[i] = diagnose.ReportBranchHop{At: fmt.Sprintf("node/n%d", i)}
	}
	branches := make([]diagnose.ReportBranch, 20)
	for i := range branches {
		branches[i] = diagnose.ReportBranch{To: "pod/shop/web", End: "Delivered", Forward: long, Reply: long[:3]}
	}
	got, truncated := Branches(branches)
	if len(got) != MaxBranches || len(got[0].Forward) != MaxBranchHops || len(got[0].Reply) != 3 || !truncated {
		t.Errorf("Branches() gives %d branches, %d and %d hops, truncated %v; want %d, %d and 3, true", len(got), len(got[0].Forward), len(got[0].Reply), truncated, MaxBranches, MaxBranchHops)
	}
	if _, truncated := Branches(branches[:1]); !truncated {
		t.Error("a branch longer than the limit is cut without saying so")
	}
}
