package netstack

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func sampleSnapshot() *NodeSnapshot {
	ns := node().
		Route("10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink").
		Route("blackhole 10.9.0.0/16 table 100").
		Rule("pref 100 fwmark 0x4000/0x4000 lookup 100 suppress_prefixlength 0").
		Iface("flannel.1", 5, "10.244.1.0/32").With(func(i *Interface) {
		i.Kind, i.MTU = "vxlan", 1450
		i.VXLAN = &VXLANAttrs{VNI: 1, Port: 8472, Local: netip.MustParseAddr("192.168.1.10"), Device: "eth0"}
	}).
		Neighbour("flannel.1", "10.244.2.0", "aa:bb:cc:dd:ee:02", "PERMANENT").
		FDB("flannel.1", "aa:bb:cc:dd:ee:02", "192.168.1.12").
		Sysctl("ipv4/ip_forward", "1").Obj()
	ns.IPTables = "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"
	ns.Listening = []Socket{{Protocol: "TCP", Address: netip.MustParseAddrPort("0.0.0.0:10250")}}
	return &NodeSnapshot{Version: Version, Node: "n1", CollectedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Host: *ns}
}

func TestWriteReadNodeSnapshot(t *testing.T) {
	want := sampleSnapshot()
	path := filepath.Join(t.TempDir(), "n1.json")
	var buf bytes.Buffer
	if err := WriteNodeSnapshot(&buf, want); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadNodeSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Netstack{}), cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }), cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	// The suppress_prefixlength 0 survives: it is not the zero value's "unset".
	r := got.Host.LookupRoute(marked("10.9.1.1", 0x4000))
	if r.Reject != RejectBlackhole {
		t.Errorf("after the round trip the marked packet is %s, want the blackhole", r.Reject)
	}
}

func TestReadNodeSnapshotErrors(t *testing.T) {
	cases := map[string]struct {
		data string
		want string
	}{
		"wrong version":     {`{"version":"netstack.netdiag.dev/v0","node":"n1","host":{}}`, `snapshot version "netstack.netdiag.dev/v0", this netdiag reads "netstack.netdiag.dev/v1"`},
		"no version":        {`{"node":"n1","host":{}}`, "not a netstack snapshot: no version"},
		"not JSON":          {"hello", "malformed snapshot at line 1, column 1"},
		"truncated":         {"{\n  \"version\": \"netstack.netdiag.dev/v1\",\n  \"node\": ", "malformed snapshot"},
		"wrong field type":  {"{\"version\":\"netstack.netdiag.dev/v1\",\n\"node\":\"n1\",\n\"host\":{\"interfaces\":[{\"mtu\":\"big\"}]}}", "malformed snapshot at line 3"},
		"bad address":       {`{"version":"netstack.netdiag.dev/v1","node":"n1","host":{"routes":[{"dst":"10.0.0.0/33"}]}}`, "malformed snapshot"},
		"no node":           {`{"version":"netstack.netdiag.dev/v1","host":{}}`, "snapshot names no node"},
		"unnamed interface": {`{"version":"netstack.netdiag.dev/v1","node":"n1","host":{"interfaces":[{"index":3}]}}`, "node n1, host: interface #0 (index 3) has no name"},
		"unknown route type": {`{"version":"netstack.netdiag.dev/v1","node":"n1","pods":[{"pod":{"namespace":"a","name":"b"},"routes":[{"dst":"10.0.0.0/8","type":"teleport"}]}]}`,
			`node n1, pod a/b: route 10.0.0.0/8 (table 0) has unknown type "teleport"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "snap.json")
			if err := os.WriteFile(path, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadNodeSnapshot(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v, want one naming %s and containing %q", err, path, tc.want)
			}
		})
	}
	if _, err := ReadNodeSnapshot(filepath.Join(t.TempDir(), "absent.json")); err == nil {
		t.Error("reading a missing file succeeded")
	}
}

func TestWriteNodeSnapshotRefusesAnotherVersion(t *testing.T) {
	s := sampleSnapshot()
	s.Version = "netstack.netdiag.dev/v9"
	if err := WriteNodeSnapshot(&bytes.Buffer{}, s); err == nil {
		t.Error("wrote a snapshot of another version")
	}
}

// FuzzParseNodeSnapshot: any input is either refused with an error or parsed into a snapshot
// that writes and parses back to itself, and that the lookup can route without panicking.
func FuzzParseNodeSnapshot(f *testing.F) {
	var buf bytes.Buffer
	if err := WriteNodeSnapshot(&buf, sampleSnapshot()); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(`{"version":"netstack.netdiag.dev/v1","node":"n","host":{"rules":[{"priority":1,"action":"goto","goto":1}]}}`))
	f.Add([]byte(`{"version":"netstack.netdiag.dev/v0"}`))
	f.Add([]byte(`{"version":"netstack.netdiag.dev/v1","node":"n","host":{"routes":[{"dst":"0.0.0.0/0","nexthops":[{}]}]}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		snap, err := ParseNodeSnapshot(data)
		if err != nil {
			if snap != nil {
				t.Fatal("a snapshot with an error")
			}
			return
		}
		var out bytes.Buffer
		if err := WriteNodeSnapshot(&out, snap); err != nil {
			t.Fatalf("write a parsed snapshot: %v", err)
		}
		again, err := ParseNodeSnapshot(out.Bytes())
		if err != nil {
			t.Fatalf("parse a written snapshot: %v\n%s", err, out.Bytes())
		}
		var out2 bytes.Buffer
		if err := WriteNodeSnapshot(&out2, again); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), out2.Bytes()) {
			t.Fatalf("not stable:\n%s\n%s", out.Bytes(), out2.Bytes())
		}
		for _, ns := range snap.Namespaces() {
			for _, dst := range []string{"10.0.0.1", "0.0.0.0", "255.255.255.255", "127.0.0.1"} {
				ns.LookupRoute(q(dst))
				ns.LookupRoute(RouteQuery{Dst: netip.MustParseAddr(dst), Src: netip.MustParseAddr("10.1.1.1"), IIF: "eth0", Mark: 1})
			}
		}
	})
}

// BenchmarkLookupRoute routes on a node with 1,000 routes in ten tables and 100 policy rules.
func BenchmarkLookupRoute(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	bld := MakeNetstack().Iface("eth0", 2, "192.168.0.10/16").Iface("eth1", 3, "172.16.0.10/16")
	for i := range 1000 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), 0}), 16+r.IntN(9)).Masked()
		table := 100 + i%10
		if i%10 == 9 {
			table = TableMain
		}
		bld.Route(fmt.Sprintf("%s via 192.168.%d.%d dev eth0 table %s metric %d", p, r.IntN(256), 1+r.IntN(250), TableName(table), r.IntN(3)*100))
	}
	for i := range 100 {
		switch i % 4 {
		case 0:
			bld.Rule(fmt.Sprintf("pref %d fwmark 0x%x/0xff00 lookup %d", 1000+i, (i%16)<<8, 100+i%10))
		case 1:
			bld.Rule(fmt.Sprintf("pref %d from 10.%d.0.0/16 lookup %d", 1000+i, i, 100+i%10))
		case 2:
			bld.Rule(fmt.Sprintf("pref %d to 10.%d.0.0/16 iif eth1 lookup %d", 1000+i, i, 100+i%10))
		default:
			bld.Rule(fmt.Sprintf("pref %d not fwmark 0x%x lookup main suppress_prefixlength 0", 1000+i, i))
		}
	}
	ns := bld.Route("default via 192.168.0.1 dev eth0").Obj()
	queries := make([]RouteQuery, 256)
	for i := range queries {
		queries[i] = RouteQuery{Dst: netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))}), Mark: uint32(r.IntN(16)) << 8}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ns.LookupRoute(queries[i%len(queries)])
	}
}
