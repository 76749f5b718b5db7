package kindnet_test

import (
	"errors"
	"net/netip"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
	"github.com/netdiag/netdiag/internal/plugin/kindnet"
	"github.com/netdiag/netdiag/internal/plugin/kindnet/kindnettest"
	"github.com/netdiag/netdiag/internal/plugins"
)

func TestDetect(t *testing.T) {
	r := plugins.Registry()
	cases := map[string]struct {
		snap *cluster.Snapshot
		want string
	}{
		"kind's DaemonSet": {snap: kindnettest.TwoNodes().Snapshot, want: kindnet.Name},
		"the image under another DaemonSet's name (minikube)": {
			snap: &cluster.Snapshot{DaemonSets: []appsv1.DaemonSet{renamed(kindnettest.DaemonSet(kindnet.Image+":v20250512-df8de77b", fixture.ClusterCIDR), "cni")}},
			want: kindnet.Name,
		},
		"a flannel cluster is not kindnet": {snap: flanneltest.New(flanneltest.HostGW, 2).Build().Snapshot, want: "flannel"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d, ok := r.Detect(c.snap)
			if !ok || d.Plugin.Name != c.want {
				t.Fatalf("Detect = %q (%s), %v; want %q", d.Plugin.Name, d.Evidence, ok, c.want)
			}
		})
	}
}

func renamed(ds appsv1.DaemonSet, name string) appsv1.DaemonSet {
	ds.Name, ds.Labels = name, nil
	ds.Spec.Template.Spec.Containers[0].Name = name
	return ds
}

func TestConfig(t *testing.T) {
	r := plugins.Registry()
	cases := map[string]struct {
		overrides map[string]string
		wantErr   bool
	}{
		"defaults":                    {},
		"enforced":                    {overrides: map[string]string{"network-policy": kindnet.PolicyEnforced}},
		"a setting kindnet lacks":     {overrides: map[string]string{"network-policy": "sometimes"}, wantErr: true},
		"an option kindnet lacks":     {overrides: map[string]string{"mode": "vxlan"}, wantErr: true},
		"not-enforced":                {overrides: map[string]string{"network-policy": kindnet.PolicyNotEnforced}},
		"auto, named explicitly":      {overrides: map[string]string{"network-policy": kindnet.PolicyAuto}},
		"an empty setting is refused": {overrides: map[string]string{"network-policy": ""}, wantErr: true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := r.Config(kindnet.Name, c.overrides)
			var ce *plugin.ConfigError
			if c.wantErr != (err != nil) || err != nil && !errors.As(err, &ce) {
				t.Fatalf("Config(%v) = %v, want error %v (a *plugin.ConfigError)", c.overrides, err, c.wantErr)
			}
		})
	}
}

// TestEnforcesPolicy follows kindnetd's releases: NetworkPolicy since its images of July
// 2024 (kind v0.24.0), none before (kind v0.23.0 shipped v20240513-cd2ac642).
func TestEnforcesPolicy(t *testing.T) {
	cases := map[string]struct {
		image, setting string
		want           bool
	}{
		"kind v0.23.0":                        {image: kindnet.Image + ":v20240513-cd2ac642", want: false},
		"kind v0.24.0":                        {image: kindnet.Image + ":v20240813-c6f155d6", want: true},
		"kind v0.27.0":                        {image: kindnet.Image + ":v20250214-acbabc1a", want: true},
		"pinned by digest as well":            {image: kindnet.Image + ":v20240513-cd2ac642@sha256:9c2b5fcda3cb5a9725ecb893f3c8998a92d51a87465a886eb563e18d649383a8", want: false},
		"a local build without a date":        {image: "localhost:5000/kindnetd:dev", want: true},
		"no tag":                              {image: kindnet.Image, want: true},
		"kind v0.23.0, configured enforced":   {image: kindnet.Image + ":v20240513-cd2ac642", setting: kindnet.PolicyEnforced, want: true},
		"kind v0.27.0, configured unenforced": {image: kindnet.Image + ":v20250214-acbabc1a", setting: kindnet.PolicyNotEnforced, want: false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := kindnet.NewConfig()
			if c.setting != "" {
				cfg.NetworkPolicy = c.setting
			}
			snap := &cluster.Snapshot{DaemonSets: []appsv1.DaemonSet{kindnettest.DaemonSet(c.image, netip.MustParsePrefix("10.244.0.0/16"))}}
			if got := kindnet.New(&plugin.Env{Cluster: snap}, *cfg).EnforcesPolicy(); got != c.want {
				t.Errorf("EnforcesPolicy with %s = %v, want %v", c.image, got, c.want)
			}
		})
	}
}
