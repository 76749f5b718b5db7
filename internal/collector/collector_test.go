package collector

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"testing"


	"github.com/netdiag/netdiag/internal/netstack"
)

func TestCollectDump(t *testing.T) {
	n := makeNode(t)
	snap, err := Collect(context.Background(), Options{
		Node:      "n1",
		HostNetNS: n.path,
		Pods:      []netstack.PodRef{{Namespace: "default", Name: "web", IP: netip.MustParseAddr(podIP)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(snap, "", " ")
	os.WriteFile("/tmp/ndt-coll-dump.json", b, 0o644)
}
