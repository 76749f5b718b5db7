package collector

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/netdiag/netdiag/internal/netstack"
)

// genlMsg builds a generic netlink IPVS message with one nested attribute, as the kernel's
// ip_vs_genl_dump_services and ip_vs_genl_dump_dests send them.
func genlMsg(cmd uint8, nested uint16, attrs ...*nl.RtAttr) []byte {
	top := nl.NewRtAttr(int(nested)|unix.NLA_F_NESTED, nil)
	for _, a := range attrs {
		top.AddChild(a)
	}
	return append([]byte{cmd, ipvsGenlVersion, 0, 0}, top.Serialize()...)
}

func addr16(s string) []byte {
	a := netip.MustParseAddr(s)
	b := make([]byte, 16)
	copy(b, a.AsSlice())
	return b
}

func TestParseIPVS(t *testing.T) {
	ne16 := func(v uint16) []byte { return binary.NativeEndian.AppendUint16(nil, v) }
	be16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	ne32 := func(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

	svc, err := parseIPVSService(genlMsg(ipvsCmdGetService, ipvsCmdAttrService,
		nl.NewRtAttr(ipvsSvcAttrAF, ne16(unix.AF_INET)),
		nl.NewRtAttr(ipvsSvcAttrProtocol, ne16(unix.IPPROTO_TCP)),
		nl.NewRtAttr(ipvsSvcAttrAddr, addr16("10.96.0.10")),
		nl.NewRtAttr(ipvsSvcAttrPort, be16(53)),
		nl.NewRtAttr(ipvsSvcAttrSchedName, []byte("rr\x00")),
	))
	if err != nil {
		t.Fatal(err)
	}
	wantSvc := netstack.IPVSService{Protocol: "TCP", Address: netip.MustParseAddrPort("10.96.0.10:53"), Scheduler: "rr"}
	if diff := cmp.Diff(wantSvc, svc.snap, netipCmp); diff != "" {
		t.Errorf("service (-want +got):\n%s", diff)
	}
	if len(svc.attrs) == 0 {
		t.Error("service attributes not kept for the destination dump")
	}

	tests := map[string]struct {
		attrs []*nl.RtAttr
		want  netstack.IPVSDestination
	}{
		"masquerading v4 real server": {
			attrs: []*nl.RtAttr{
				nl.NewRtAttr(ipvsDestAttrAF, ne16(unix.AF_INET)), nl.NewRtAttr(ipvsDestAttrAddr, addr16("10.244.1.5")),
				nl.NewRtAttr(ipvsDestAttrPort, be16(8053)), nl.NewRtAttr(ipvsDestAttrWeight, ne32(1)), nl.NewRtAttr(ipvsDestAttrFwdMethod, ne32(0)),
			},
			want: netstack.IPVSDestination{Address: netip.MustParseAddrPort("10.244.1.5:8053"), Weight: 1, Forward: "masq"},
		},
		"direct routing v6, weight 0 (drained)": {
			attrs: []*nl.RtAttr{
				nl.NewRtAttr(ipvsDestAttrAF, ne16(unix.AF_INET6)), nl.NewRtAttr(ipvsDestAttrAddr, addr16("fd00::5")),
				nl.NewRtAttr(ipvsDestAttrPort, be16(80)), nl.NewRtAttr(ipvsDestAttrWeight, ne32(0)), nl.NewRtAttr(ipvsDestAttrFwdMethod, ne32(3)),
			},
			want: netstack.IPVSDestination{Address: netip.MustParseAddrPort("[fd00::5]:80"), Forward: "route"},
		},
		// Kernels before the address-family attribute send only v4 destinations for v4 services.
		"no family attribute": {
			attrs: []*nl.RtAttr{nl.NewRtAttr(ipvsDestAttrAddr, addr16("10.0.0.1")), nl.NewRtAttr(ipvsDestAttrPort, be16(1)), nl.NewRtAttr(ipvsDestAttrFwdMethod, ne32(2))},
			want:  netstack.IPVSDestination{Address: netip.MustParseAddrPort("10.0.0.1:1"), Forward: "tunnel"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseIPVSDest(genlMsg(ipvsCmdGetDest, ipvsCmdAttrDest, tc.attrs...))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, netipCmp); diff != "" {
				t.Errorf("destination (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseIPVS(f *testing.F) {
	f.Add(genlMsg(ipvsCmdGetService, ipvsCmdAttrService, nl.NewRtAttr(ipvsSvcAttrAddr, addr16("10.0.0.1"))))
	f.Add(genlMsg(ipvsCmdGetDest, ipvsCmdAttrDest, nl.NewRtAttr(ipvsDestAttrAddr, []byte{1, 2})))
	f.Fuzz(func(t *testing.T, msg []byte) {
		_, _ = parseIPVSService(msg)
		_, _ = parseIPVSDest(msg)
	})
}
