package collector

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netdiag/netdiag/internal/netnsutil"
	"github.com/netdiag/netdiag/internal/netstack"
)

// timerListHead is the start of /proc/timer_list as a Debian 12 kernel (HZ=250) printed it
// 45,928 s after boot.
const timerListHead = `Timer List Version: v0.9
HRTIMER_MAX_CLOCK_BASES: 8
now at 45927909762508 nsecs

cpu: 0
 clock 0:
  .base:               pcpu_hrtimer
jiffies: 4306374212
`

func TestParseKernelClock(t *testing.T) {
	got, err := ParseKernelClock([]byte(timerListHead))
	if err != nil {
		t.Fatal(err)
	}
	if want := (KernelClock{Jiffies: 4306374212, HZ: 250}); got != want {
		t.Errorf("ParseKernelClock = %+v, want %+v", got, want)
	}
	for name, text := range map[string]string{
		"no jiffies":          "now at 45927909762508 nsecs\n",
		"just booted":         "now at 100000000000 nsecs\njiffies: 4294917296\n",
		"jiffies fit no rate": "now at 45927909762508 nsecs\njiffies: 4299967296\n",
	} {
		if _, err := ParseKernelClock([]byte(text)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseRecentList(t *testing.T) {
	clock := KernelClock{Jiffies: 4306374212, HZ: 250}
	list := "src=10.244.2.7 ttl: 64 last_seen: 4306351712 oldest_pkt: 2 4306350000, 4306351712\n" +
		"src=10.244.1.5 ttl: 63 last_seen: 4306374212 oldest_pkt: 1 4306374212\n"
	got, err := ParseRecentList("KUBE-SEP-A", []byte(list), clock)
	if err != nil {
		t.Fatal(err)
	}
	want := []netstack.RecentEntry{
		{List: "KUBE-SEP-A", Addr: netip.MustParseAddr("10.244.1.5"), SeenSecondsAgo: 0},
		{List: "KUBE-SEP-A", Addr: netip.MustParseAddr("10.244.2.7"), SeenSecondsAgo: 90},
	}
	if diff := cmp.Diff(want, got, netipCmp); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if _, err := ParseRecentList("KUBE-SEP-A", []byte("src=nonsense ttl: 1 last_seen: 1\n"), clock); err == nil {
		t.Error("a line without an address: no error")
	}
}

// TestCollectRecentLists sends a packet that a recent rule puts on its list in one
// namespace and collects that namespace and another: the list, read from the thread's own
// namespace, is in the first only, with the packet's source and an age of seconds.
func TestCollectRecentLists(t *testing.T) {
	requireRoot(t)
	name, path := newNetNS(t, "recent")
	_, otherPath := newNetNS(t, "norecent")
	ipn(t, name, "link set lo up")
	nsExec(t, name, "iptables", "-A", "OUTPUT", "-p", "udp", "--dport", "9", "-m", "recent", "--set", "--name", "KUBE-SEP-TEST", "--rsource")
	err := netnsutil.Do(path, func() error {
		c, err := net.Dial("udp", "127.0.0.1:9")
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("x"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	ns := CollectNetstack(t.Context(), path, "/proc")
	if len(ns.Errors) > 0 {
		t.Fatalf("part errors: %v", ns.Errors)
	}
	if len(ns.Recent) != 1 {
		t.Fatalf("recent entries %+v, want one", ns.Recent)
	}
	e := ns.Recent[0]
	if e.List != "KUBE-SEP-TEST" || e.Addr != netip.MustParseAddr("127.0.0.1") || e.SeenSecondsAgo < 0 || e.SeenSecondsAgo > 60 {
		t.Errorf("entry %+v, want 127.0.0.1 on KUBE-SEP-TEST seen seconds ago", e)
	}
	if other := CollectNetstack(t.Context(), otherPath, "/proc"); len(other.Recent) != 0 {
		t.Errorf("the other namespace has the first one's list: %+v", other.Recent)
	}
}
