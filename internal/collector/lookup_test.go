package collector

import (
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/netdiag/netdiag/internal/netstack"
)

// kernelRoute is what `ip -j route get` answers, or the error it prints.
type kernelRoute struct {
	Type    string `json:"type"`
	Dev     string `json:"dev"`
	Gateway string `json:"gateway"`
	PrefSrc string `json:"prefsrc"`
	Err     string `json:"-"`
}

func ipRouteGet(t *testing.T, ns string, q netstack.RouteQuery) kernelRoute {
	t.Helper()
	args := []string{"-n", ns, "-j", "route", "get"}
	args = append(args, strings.Fields(q.String())...)
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if _, after, ok := strings.Cut(msg, "RTNETLINK answers: "); ok {
			return kernelRoute{Err: after}
		}
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	var res []kernelRoute
	if err := json.Unmarshal(out, &res); err != nil || len(res) != 1 {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return res[0]
}

// TestRouteLookupMatchesKernel routes random packets through the collected snapshot with the
// engine's lookup and through the kernel the snapshot came from, and wants the same answer.
func TestRouteLookupMatchesKernel(t *testing.T) {
	n := makeNode(t)
	ns := CollectNetstack(t.Context(), n.path, "/proc")
	// Every part must be read: a route lookup on a snapshot with a part missing proves nothing.
	if len(ns.Errors) != 0 {
		t.Fatalf("collect: %v", ns.Errors)
	}

	seed := uint64(20261127)
	rng := rand.New(rand.NewPCG(seed, seed))
	t.Logf("seed %d", seed)
	randIn := func(p string) netip.Addr {
		pfx := netip.MustParsePrefix(p)
		a := pfx.Addr().As4()
		host := rng.Uint32() & (1<<(32-pfx.Bits()) - 1)
		v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	// Destinations where the fixture's routes are, and anywhere.
	pools := []string{"10.231.0.0/16", "10.231.1.0/24", "10.231.66.0/23", "10.231.68.0/22", "192.168.231.0/24", "0.0.0.0/0", "127.0.0.0/8"}
	// Ways a packet meets the rules: locally sent, marked, to a port a rule picks, or
	// forwarded from the pod or from the underlay.
	queries := []func(dst netip.Addr) netstack.RouteQuery{
		func(dst netip.Addr) netstack.RouteQuery { return netstack.RouteQuery{Dst: dst} },
		func(dst netip.Addr) netstack.RouteQuery { return netstack.RouteQuery{Dst: dst, Mark: 0x10} },
		func(dst netip.Addr) netstack.RouteQuery {
			return netstack.RouteQuery{Dst: dst, IPProto: syscall.IPPROTO_TCP, DPort: uint16(78 + rng.IntN(15))}
		},
		func(dst netip.Addr) netstack.RouteQuery {
			return netstack.RouteQuery{Dst: dst, Src: netip.MustParseAddr(podIP), IIF: "veth-pod"}
		},
		func(dst netip.Addr) netstack.RouteQuery {
			return netstack.RouteQuery{Dst: dst, Src: randIn("192.168.231.0/24"), IIF: "eth0"}
		},
	}
	checked, routed := 0, 0
	for range 300 {
		dst := randIn(pools[rng.IntN(len(pools))])
		if dst.IsUnspecified() || dst.IsMulticast() || dst == netip.MustParseAddr("255.255.255.255") {
			continue
		}
		q := queries[rng.IntN(len(queries))](dst)
		if q.IIF != "" && dst.IsLoopback() {
			continue
		}
		want := ipRouteGet(t, n.name, q)
		got := ns.LookupRoute(q)
		checked++
		if want.Err != "" {
			if got.Errno == 0 || !strings.EqualFold(got.Errno.Error(), want.Err) {
				t.Errorf("ip route get %s: kernel says %q, lookup says %s (errno %v, type %s, trace %v)", q, want.Err, got.Reject, got.Errno, got.Type, got.Trace)
			}
			continue
		}
		routed++
		if got.Errno != 0 {
			t.Errorf("ip route get %s: kernel routes it by %s via %q, lookup rejects it: %s (%v) trace %v", q, want.Dev, want.Gateway, got.Reject, got.Errno, got.Trace)
			continue
		}
		var gws []string
		for _, nh := range got.NextHops {
			if nh.Device == want.Dev && (nh.Gateway.String() == want.Gateway || (!nh.Gateway.IsValid() && want.Gateway == "")) {
				gws = append(gws, nh.Device)
			}
		}
		switch {
		case want.Dev != got.Device && len(gws) == 0:
			t.Errorf("ip route get %s: kernel dev %s gateway %q, lookup dev %s gateway %s next hops %v; trace %v", q, want.Dev, want.Gateway, got.Device, got.Gateway, got.NextHops, got.Trace)
		case q.IIF == "" && want.PrefSrc != "" && want.PrefSrc != got.Src.String():
			t.Errorf("ip route get %s: kernel source %s, lookup source %s", q, want.PrefSrc, got.Src)
		case cmpType(want.Type) != got.Type:
			t.Errorf("ip route get %s: kernel type %q, lookup type %q", q, cmpType(want.Type), got.Type)
		}
	}
	t.Logf("%d queries, %d routed", checked, routed)
	if routed < checked/4 || routed == checked {
		t.Errorf("%d of %d queries routed: the destinations do not exercise both outcomes", routed, checked)
	}
}

// cmpType reads the type `ip -j route get` prints: nothing for unicast.
func cmpType(s string) string {
	if s == "" {
		return netstack.RouteUnicast
	}
	return s
}
