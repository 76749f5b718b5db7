package lab

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestCoreDNS runs the cluster DNS in a lab and asks it real questions from a pod, with the
// resolv.conf the kubelet would write for it.
func TestCoreDNS(t *testing.T) {
	l := upForTest(t, "ndldns", ModeFlannelVXLAN, ProxyIPTables)
	_, svc := shop(t, l)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	if err := l.DeployCoreDNS(ctx, "node-2"); err != nil {
		data, _ := os.ReadFile(l.logPath("pods/kube-system_coredns_coredns"))
		t.Fatalf("DeployCoreDNS: %v\n--- CoreDNS's log\n%s", err, data)
	}
	t.Logf("CoreDNS answers %s after deploying it", time.Since(start).Round(time.Millisecond))

	rc, err := l.PodResolvConf(ctx, "shop", "web-node-1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rc.Format(), "nameserver 10.96.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"; got != want {
		t.Errorf("resolv.conf:\n%s\nwant:\n%s", got, want)
	}
	for _, tc := range []struct {
		name string
		tcp  bool
		want string // the address, or words of the error
	}{
		{"web", false, svc.Spec.ClusterIP},
		{"web.shop.svc.cluster.local", true, svc.Spec.ClusterIP},
		{"kube-dns.kube-system", false, ClusterDNSIP.String()},
		{"www.example.com", false, internetIP.String()},
		// NXDOMAIN for the cluster's names; the lab has no upstream for the last, bare one.
		{"nosuch", false, "ServerFailure for nosuch"},
	} {
		got, err := l.Resolve(ctx, "shop", "web-node-1", tc.name, tc.tcp, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.Contains(tc.want, "."):
			if len(got.Addrs) == 0 || got.Addrs[0].String() != tc.want {
				t.Errorf("%s (tcp=%v): got %+v, want %s", tc.name, tc.tcp, got, tc.want)
			}
		default:
			if len(got.Addrs) != 0 || !strings.Contains(got.Err, tc.want) {
				t.Errorf("%s (tcp=%v): got %+v, want an error with %q", tc.name, tc.tcp, got, tc.want)
			}
		}
	}

	if err := l.DeleteCoreDNSPod(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := l.Resolve(ctx, "shop", "web-node-1", "web", false, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Addrs) != 0 {
		t.Errorf("with CoreDNS gone, web still resolves: %+v", got)
	}
}
