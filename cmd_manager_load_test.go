package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdiag/netdiag/controllers"
	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/plugins"
)

// TestManagerLoadFlags checks the defaults of the load and detection flags, and that what
// they set reaches detection or is refused with the flag's name.
func TestManagerLoadFlags(t *testing.T) {
	parse := func(t *testing.T, args ...string) (loadOptions, *plugin.Registry, error) {
		t.Helper()
		reg := plugins.Registry()
		var o loadOptions
		fs := pflag.NewFlagSet("manager", pflag.ContinueOnError)
		bindLoadFlags(fs, &o, reg)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return o, reg, o.apply(reg)
	}
	o, _, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	if o.caps != controllers.DefaultLoadCaps() || o.priorityClass != controllers.DefaultCollectorPriorityClass || o.tolerateControlPlane || o.networkPlugin != plugin.Auto {
		t.Errorf("defaults = %+v, want the default caps, the shipped PriorityClass, control-plane nodes refused, auto", o)
	}

	platform := &cluster.Snapshot{DaemonSets: []appsv1.DaemonSet{{ObjectMeta: metav1.ObjectMeta{Namespace: "platform", Name: "kube-flannel-ds"}}}}
	_, reg, err := parse(t, "--system-namespaces", "kube-system,platform")
	if err != nil {
		t.Fatal(err)
	}
	if det, ok := reg.Detect(platform); !ok || det.Plugin.Name != "flannel" {
		t.Errorf("with --system-namespaces naming platform, Detect = %q, %v; want flannel", det.Plugin.Name, ok)
	}
	_, reg, err = parse(t, "--network-plugin", "calico")
	if err != nil {
		t.Fatal(err)
	}
	if det, ok := reg.Detect(platform); !ok || det.Plugin.Name != "calico" {
		t.Errorf("with --network-plugin calico, Detect = %q, %v; want calico", det.Plugin.Name, ok)
	}

	for args, want := range map[string]string{
		"--network-plugin=nosuch":        "--network-plugin",
		"--max-diagnoses=-1":             "must not be negative",
		"--system-namespaces=Not_A_Name": "--system-namespaces",
	} {
		if _, _, err := parse(t, args); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: apply() = %v, want an error naming %q", args, err, want)
		}
	}
}
