package collector

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/netdiag/netdiag/internal/netstack"
)

// readRecent reads the lists of iptables' recent match in the calling thread's namespace
// (procRoot/thread-self/net/xt_recent, one file per list), where kube-proxy keeps the
// clients of each ClientIP-affinity endpoint. The kernel stamps an entry with the jiffies of
// its last packet; the age is taken against the jiffies of now, from procRoot/timer_list.
// No directory means no list: the module is not in use there.
func readRecent(procRoot string) ([]netstack.RecentEntry, error) {
	dir := filepath.Join(procRoot, "thread-self", "net", "xt_recent")
	lists, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	if len(lists) == 0 {
		return nil, nil
	}
	timerList, err := os.ReadFile(filepath.Join(procRoot, "timer_list"))
	if err != nil {
		return nil, fmt.Errorf("read timer_list for the kernel's time: %w", err)
	}
	clock, err := ParseKernelClock(timerList)
	if err != nil {
		return nil, err
	}
	var (
		out  []netstack.RecentEntry
		errs []error
	)
	for _, l := range lists {
		b, err := os.ReadFile(filepath.Join(dir, l.Name()))
		if err != nil {
			errs = append(errs, fmt.Errorf("read list %s: %w", l.Name(), err))
			continue
		}
		entries, err := ParseRecentList(l.Name(), b, clock)
		if err != nil {
			errs = append(errs, err)
		}
		out = append(out, entries...)
	}
	return out, errors.Join(errs...)
}

// KernelClock is the kernel's jiffies counter at a moment and its rate.
type KernelClock struct {
	Jiffies uint64
	HZ      int
}

// ParseKernelClock reads /proc/timer_list's "now at N nsecs" (time since boot) and
// "jiffies: J". The kernel starts jiffies 300 seconds before wrapping 32 bits
// (INITIAL_JIFFIES), so J = 2^32 - 300·HZ + HZ·now, which gives HZ, one of the few values
// kernels are built with.
func ParseKernelClock(timerList []byte) (KernelClock, error) {
	var nowNS, jiffies uint64
	sc := bufio.NewScanner(bytes.NewReader(timerList))
	for sc.Scan() && (nowNS == 0 || jiffies == 0) {
		line := strings.TrimSpace(sc.Text())
		switch {
		case nowNS == 0 && strings.HasPrefix(line, "now at "):
			nowNS, _ = strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(line, "now at "), " nsecs"), 10, 64)
		case jiffies == 0 && strings.HasPrefix(line, "jiffies: "):
			jiffies, _ = strconv.ParseUint(strings.TrimPrefix(line, "jiffies: "), 10, 64)
		}
	}
	if nowNS == 0 || jiffies == 0 {
		return KernelClock{}, errors.New(`timer_list has no "now at" or "jiffies:" line`)
	}
	uptime := float64(nowNS) / 1e9
	if uptime <= 300 {
		// Both sides of the equation are too small to tell HZ apart yet.
		return KernelClock{}, fmt.Errorf("the kernel has been up only %.0fs, too short to tell its HZ from its jiffies", uptime)
	}
	hz := (float64(jiffies) - math.Exp2(32)) / (uptime - 300)
	for _, c := range []int{100, 250, 300, 1000} {
		if math.Abs(hz-float64(c)) < 0.02*float64(c) {
			return KernelClock{Jiffies: jiffies, HZ: c}, nil
		}
	}
	return KernelClock{}, fmt.Errorf("jiffies %d after %.0fs of uptime fit no kernel HZ (%.1f)", jiffies, uptime, hz)
}

// ParseRecentList parses one xt_recent list, lines like
// "src=10.244.1.5 ttl: 64 last_seen: 4306374212 oldest_pkt: 1 4306374212".
func ParseRecentList(list string, data []byte, clock KernelClock) ([]netstack.RecentEntry, error) {
	var out []netstack.RecentEntry
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		fields := strings.Fields(line)
		var addr netip.Addr
		var seen uint64
		var errAddr, errSeen error = errors.New("no src="), errors.New("no last_seen:")
		for j, f := range fields {
			switch {
			case strings.HasPrefix(f, "src="):
				addr, errAddr = netip.ParseAddr(strings.TrimPrefix(f, "src="))
			case f == "last_seen:" && j+1 < len(fields):
				seen, errSeen = strconv.ParseUint(fields[j+1], 10, 64)
			}
		}
		if err := errors.Join(errAddr, errSeen); err != nil {
			return out, fmt.Errorf("list %s line %d %q: %w", list, i+1, line, err)
		}
		age := 0.0
		if clock.Jiffies > seen {
			age = float64(clock.Jiffies-seen) / float64(clock.HZ)
		}
		out = append(out, netstack.RecentEntry{List: list, Addr: addr, SeenSecondsAgo: math.Round(age*10) / 10})
	}
	slices.SortFunc(out, func(a, b netstack.RecentEntry) int { return a.Addr.Compare(b.Addr) })
	return out, nil
}
