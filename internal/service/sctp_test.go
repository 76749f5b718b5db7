package service

import (
	"path/filepath"
	"testing"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/snapshotdir"
)

// testdata/sctp is the real kube-proxy's rules for SCTP services (sctp_record_test.go): this
// kernel has no SCTP sockets, but iptables-nft and nft take and list SCTP rules, and
// kube-proxy programs them in both modes. No SCTP packet was ever sent; these tests check
// that the rules kube-proxy writes for SCTP translate an SCTP packet, and only an SCTP one.

func sctpCluster(t *testing.T) *cluster.Snapshot {
	t.Helper()
	snap := &cluster.Snapshot{}
	if n, err := snapshotdir.ReadObjects(filepath.Join("testdata", "sctp", "cluster.yaml"), snap); err != nil || n == 0 {
		t.Fatalf("sctp/cluster.yaml: %d objects, %v", n, err)
	}
	return snap
}

func sctpStack(t *testing.T, mode Mode) *netstack.Netstack {
	t.Helper()
	ns := nodeAStack()
	switch mode {
	case ModeIPTables:
		ns.IPTables, ns.IPTablesBackend = string(readFixture(t, filepath.Join("testdata", "sctp", "node-a.iptables"))), "nft"
	case ModeNFTables:
		ns.NFTables = string(readFixture(t, filepath.Join("testdata", "sctp", "node-a.nft.json")))
	}
	return ns
}

func TestSCTPRecorded(t *testing.T) {
	const client = "10.244.1.99"
	m3ua := []string{"Translated 10.244.1.51:2905 p=0.50 pod=sig-1 local", "Translated 10.244.2.52:2905 p=0.50 pod=sig-2"}
	for name, c := range map[string]struct {
		origin Origin
		pkt    model.Packet
		want   got
		// nft is what nftables mode gives where it differs from iptables mode.
		nft *got
	}{
		"an SCTP packet to the cluster IP is spread over the SCTP endpoints": {
			origin: FromPod, pkt: pkt(model.SCTP, client, "10.96.0.60", 2905),
			want: got{Service: "shop/sig:m3ua ClusterIP", Endpoints: "10.244.1.51:2905, 10.244.2.52:2905", Branches: m3ua},
		},
		"a TCP packet to the same service takes its TCP port": {
			origin: FromPod, pkt: pkt(model.TCP, client, "10.96.0.60", 3868),
			want: got{Service: "shop/sig:diameter ClusterIP", Endpoints: "10.244.1.51:3868, 10.244.2.52:3868",
				Branches: []string{"Translated 10.244.1.51:3868 p=0.50 pod=sig-1 local", "Translated 10.244.2.52:3868 p=0.50 pod=sig-2"}},
		},
		"a TCP packet to the SCTP port is no service's": {
			origin: FromPod, pkt: pkt(model.TCP, client, "10.96.0.60", 2905),
			want: got{Service: "shop/sig", Branches: []string{"Untranslated 10.96.0.60:2905 p=1.00"}, Suspicions: []string{"Critical ServicePortMissing"}},
			// kube-proxy's nftables mode rejects what reaches a cluster IP on no port of it.
			nft: &got{Service: "shop/sig", Branches: []string{"Rejected 10.96.0.60:2905 p=1.00"}, Suspicions: []string{"Critical ServicePortMissing"}},
		},
		"an SCTP packet to the SCTP node port": {
			origin: FromOutside, pkt: pkt(model.SCTP, "203.0.113.7", nodeAIP, 30905),
			want: got{Service: "shop/sig-np:2905 NodePort", Endpoints: "10.244.1.51:2905", Branches: []string{"Translated 10.244.1.51:2905 p=1.00 pod=sig-1 local masq"}},
		},
	} {
		for _, mode := range []Mode{ModeIPTables, ModeNFTables} {
			t.Run(string(mode)+"/"+name, func(t *testing.T) {
				want := c.want
				if mode == ModeNFTables && c.nft != nil {
					want = *c.nft
				}
				checkProcess(t, sctpCluster(t), sctpStack(t, mode), mode, c.origin, c.pkt, want, "", "")
			})
		}
	}
}
