package plugins

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

var update = flag.Bool("update", false, "rewrite docs/plugins.md from the registry")

const pluginsDoc = "../../docs/plugins.md"

// TestPluginsDoc keeps docs/plugins.md the registry's own table: every plugin, what is
// simulated, how it is recognised, its options. `go test ./internal/plugins -run
// TestPluginsDoc -update` rewrites it.
func TestPluginsDoc(t *testing.T) {
	want := pluginsTable()
	if *update {
		if err := os.WriteFile(pluginsDoc, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(pluginsDoc)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s is not the registry's table; run `go test ./internal/plugins -run TestPluginsDoc -update`. Want:\n%s", pluginsDoc, want)
	}
}

func pluginsTable() string {
	var b strings.Builder
	b.WriteString("# Network plugins\n\n")
	b.WriteString("The plugins netdiag knows, as `internal/plugins` registers them (this page is written from\n")
	b.WriteString("that registry by `go test ./internal/plugins -run TestPluginsDoc -update`). A diagnosis\n")
	b.WriteString("names one in `spec.networkPlugin` (default `auto`: detected from the cluster) and may override\n")
	b.WriteString("its options in `spec.networkPluginConfig`, keyed by the option's name; the manager's flags\n")
	b.WriteString("(`netdiag manager --help`) set the cluster's defaults. A plugin that is recognised but not\n")
	b.WriteString("simulated is diagnosed as `generic`, and the answer says so.\n\n")
	fmt.Fprintf(&b, "Detection reads the nodes and the DaemonSets of the system namespaces only, never a\n"+
		"tenant's: kube-system and the namespaces the plugins' projects install into, by default\n"+
		"`%s`; the manager's `--system-namespaces` sets them. The manager's\n"+
		"`--network-plugin` names the cluster's plugin instead of detecting it.\n\n", strings.Join(Registry().DefaultSystemNamespaces(), "`, `"))
	b.WriteString("| plugin | simulated | what | options (`spec.networkPluginConfig` key: flag) |\n| --- | --- | --- | --- |\n")
	for _, d := range Descriptors() {
		var opts []string
		if d.NewConfig != nil {
			fs := pflag.NewFlagSet(d.Name, pflag.ContinueOnError)
			d.NewConfig().BindFlags(fs)
			fs.VisitAll(func(f *pflag.Flag) {
				opts = append(opts, fmt.Sprintf("`%s`: `--%s` (default `%s`)", strings.TrimPrefix(f.Name, d.Name+"-"), f.Name, f.DefValue))
			})
		}
		simulated := "no"
		if d.Simulated() {
			simulated = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", d.Name, simulated, d.Summary, strings.Join(opts, "<br>"))
	}
	b.WriteString(distributions)
	return b.String()
}

// distributions says how the plugins of k3s and RKE2 are told apart, as
// testdata/distros records those clusters (TestDetectDistributions).
const distributions = `
## k3s and RKE2

Both distributions lay their network under names of their own; detection reads them as
follows (` + "`internal/plugins/testdata/distros`" + ` holds a cluster of each, as the distributions lay
their nodes and DaemonSets).

| cluster | what runs | detected as, from |
| --- | --- | --- |
| k3s | flannel and kube-router's NetworkPolicy controller inside the k3s binary, no DaemonSet | ` + "`k3s`" + `: a node labelled ` + "`node.kubernetes.io/instance-type=k3s`" + ` or annotated ` + "`k3s.io/*`" + `, with flannel's ` + "`flannel.alpha.coreos.com/backend-type`" + ` annotation |
| k3s with ` + "`--flannel-backend=none`" + ` and another CNI | that CNI's DaemonSet | that plugin, from its DaemonSet (no flannel annotation is written) |
| RKE2 (default ` + "`cni: canal`" + `) | ` + "`kube-system/rke2-canal`" + `: calico-node and kube-flannel | ` + "`canal`" + `, from the DaemonSet's name |
| RKE2 ` + "`cni: calico`" + ` | the Tigera operator's ` + "`calico-system/calico-node`" + ` | ` + "`calico`" + ` |
| RKE2 ` + "`cni: cilium`" + ` | ` + "`kube-system/cilium`" + ` | ` + "`cilium`" + `: Unknown where cilium's eBPF programs decide |
`
