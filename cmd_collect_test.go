package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/netdiag/netdiag/internal/collector"
	"github.com/netdiag/netdiag/internal/netstack"
)

func TestCollectFlags(t *testing.T) {
	upload := collectOptions{node: "n1", uploadNamespace: "netdiag-system", diagnosisUID: "u", snapshotPrefix: "p", podName: "collector", podUID: "pod-uid", proc: "/proc", probeTimeout: time.Second}
	web := netstack.PodRef{Namespace: "default", Name: "web", IP: netip.MustParseAddr("10.244.1.7")}
	with := func(f func(*collectOptions)) collectOptions { o := upload; f(&o); return o }
	tests := map[string]struct {
		opts    collectOptions
		want    collector.Options
		wantErr string
	}{
		"a pod and a TCP probe from it": {
			opts: with(func(o *collectOptions) {
				o.pods = []string{"default/web=10.244.1.7"}
				o.probeFrom, o.probeTo, o.probeProtocol, o.probePort = "pod:default/web", "10.96.0.10", "tcp", 53
			}),
			want: collector.Options{Node: "n1", Proc: "/proc", Pods: []netstack.PodRef{web},
				Probe: &collector.ProbeSpec{FromPod: "default/web", To: netip.MustParseAddr("10.96.0.10"), Protocol: "TCP", Port: 53, Timeout: time.Second}},
		},
		"an ICMP probe from the node needs no port": {
			opts: with(func(o *collectOptions) { o.probeFrom, o.probeTo, o.probeProtocol = "node", "10.0.0.1", "ICMP" }),
			want: collector.Options{Node: "n1", Proc: "/proc",
				Probe: &collector.ProbeSpec{To: netip.MustParseAddr("10.0.0.1"), Protocol: "ICMP", Timeout: time.Second}},
		},
		"a file output needs no upload flags": {
			opts: collectOptions{node: "n1", output: "-"},
			want: collector.Options{Node: "n1"},
		},
		"no node":                       {opts: with(func(o *collectOptions) { o.node = "" }), wantErr: "--node is required"},
		"nowhere to send":               {opts: collectOptions{node: "n1"}, wantErr: "either --output"},
		"uploading without its own pod": {opts: with(func(o *collectOptions) { o.podUID = "" }), wantErr: "--pod-name and --pod-uid"},
		"pod without an ip":             {opts: with(func(o *collectOptions) { o.pods = []string{"default/web"} }), wantErr: "want <namespace>/<name>=<ip>"},
		"pod without namespace":         {opts: with(func(o *collectOptions) { o.pods = []string{"web=10.0.0.1"} }), wantErr: "want <namespace>/<name>=<ip>"},
		"pod with a bad ip":             {opts: with(func(o *collectOptions) { o.pods = []string{"a/b=10.0.0"} }), wantErr: "--pod"},
		"probe from unknown pod":        {opts: with(func(o *collectOptions) { o.probeFrom, o.probeTo, o.probePort = "pod:a/b", "10.0.0.1", 80 }), wantErr: "must also be named by --pod"},
		"TCP probe without port":        {opts: with(func(o *collectOptions) { o.probeFrom, o.probeTo, o.probeProtocol = "node", "10.0.0.1", "TCP" }), wantErr: "--probe-port is required"},
		"unknown protocol":              {opts: with(func(o *collectOptions) { o.probeFrom, o.probeTo, o.probeProtocol = "node", "10.0.0.1", "QUIC" }), wantErr: "want TCP, UDP or ICMP"},
		"SCTP, which the probe cannot send": {opts: with(func(o *collectOptions) {
			o.probeFrom, o.probeTo, o.probeProtocol, o.probePort = "node", "10.0.0.1", "SCTP", 2905
		}), wantErr: "the probe sends TCP, UDP and ICMP only"},
		"bad probe source": {opts: with(func(o *collectOptions) { o.probeFrom, o.probeTo = "web", "10.0.0.1" }), wantErr: `want "node"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := tc.opts.collectorOptions()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}
