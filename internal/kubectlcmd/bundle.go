package kubectlcmd

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"

	"github.com/netdiag/netdiag/internal/bundle"
	"github.com/netdiag/netdiag/internal/plugins"
)

// newBundleCommand is `kubectl netdiag bundle`: what `netdiag bundle` writes, through the
// plugin's kubeconfig flags.
func (o *options) newBundleCommand() *cobra.Command {
	var (
		path                string
		redact              bool
		controllerNamespace = "netdiag-system"
	)
	cmd := &cobra.Command{
		Use:   "bundle NAME [-o DIR|FILE.tar.gz] [--redact]",
		Short: "Write the support bundle a NetworkDiagnosis kept, for `netdiag diagnose --snapshot`",
		Long: `Write what the engine read for a NetworkDiagnosis (its node snapshots, the cluster
objects it looked up and the question) into a folder or a tarball that "netdiag diagnose
--snapshot" reads back to the same answer. The diagnosis must have kept them
(--keep-snapshots, spec.keepSnapshots, or the manager's --keep-snapshots). --redact replaces
names and addresses consistently, for a bug report (docs/bundles.md).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, err := o.namespace()
			if err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			if path == "" {
				path = args[0] + ".tar.gz"
			}
			key := types.NamespacedName{Namespace: ns, Name: args[0]}
			q, err := bundle.Export(cmd.Context(), c, key, controllerNamespace, bundle.ExportOptions{Path: path, Redact: redact, Plugins: plugins.Registry()})
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(o.streams.Out, bundle.Hint(path, q))
			return err
		},
	}
	f := cmd.Flags()
	// The bundle's -o is where it goes; the command prints no report to format.
	f.StringVarP(&path, "output", "o", "", "folder, or tarball when it ends in .tar.gz or .tgz (default NAME.tar.gz)")
	f.BoolVar(&redact, "redact", false, "replace names and addresses consistently")
	f.StringVar(&controllerNamespace, "controller-namespace", controllerNamespace, "namespace the controller runs in, where it keeps bundles")
	return cmd
}
