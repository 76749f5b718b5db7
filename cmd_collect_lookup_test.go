package main

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/netdiag/netdiag/internal/collector"
	"github.com/netdiag/netdiag/internal/dnsname"
	"github.com/netdiag/netdiag/internal/netstack"
)

// The controller writes the lookup as collector.LookupSpec.Args; the collector must read back
// the same question.
func TestLookupFlagsReadWhatTheControllerWrites(t *testing.T) {
	want := collector.LookupSpec{FromPod: "shop/web", Name: "www.example.com", ResolvConf: dnsname.ResolvConf{
		Nameservers: []netip.Addr{netip.MustParseAddr("10.96.0.10")},
		Search:      []string{"shop.svc.cluster.local", "svc.cluster.local", "cluster.local"}, Ndots: 5}}
	pods := []netstack.PodRef{{Namespace: "shop", Name: "web", IP: netip.MustParseAddr("10.244.1.5")}}
	var l lookupFlags
	f := pflag.NewFlagSet("collect", pflag.ContinueOnError)
	l.bind(f)
	if err := f.Parse(want.Args()); err != nil {
		t.Fatal(err)
	}
	got, err := l.spec(pods)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(&want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}

	for name, tc := range map[string]struct {
		flags lookupFlags
		want  string
	}{
		"a pod not collected":  {lookupFlags{from: "pod:shop/db", name: "x.example", nameservers: []string{"10.96.0.10"}}, "must also be named by --pod"},
		"no nameserver":        {lookupFlags{from: "pod:shop/web", name: "x.example"}, "--lookup-nameserver"},
		"a name without a pod": {lookupFlags{name: "x.example"}, "want both"},
	} {
		if _, err := tc.flags.spec(pods); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", name, err, tc.want)
		}
	}
	if got, err := (lookupFlags{}).spec(pods); got != nil || err != nil {
		t.Errorf("no lookup asked: got %v, %v", got, err)
	}
}
