package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/bundle"
	"github.com/netdiag/netdiag/internal/plugins"
)

// bundleOptions are the flags of `netdiag bundle`.
type bundleOptions struct {
	namespace           string
	output              string
	redact              bool
	kubeconfig          string
	context             string
	controllerNamespace string
}

func newBundleCommand() *cobra.Command {
	o := bundleOptions{controllerNamespace: "netdiag-system"}
	cmd := &cobra.Command{
		Use:   "bundle NAME [-n NAMESPACE] [-o DIR|FILE.tar.gz] [--redact]",
		Short: "Write the support bundle a NetworkDiagnosis kept, for `netdiag diagnose --snapshot`",
		Long: `Write what the engine read for a NetworkDiagnosis (its node snapshots, the cluster objects
it looked up and the question) into a folder or a tarball that "netdiag diagnose --snapshot"
reads back to the same answer. The diagnosis must have run with spec.keepSnapshots true (or
the manager's --keep-snapshots). --redact replaces names and addresses consistently, so that
the bundle can go into a bug report; docs/bundles.md says what it hides and what it does not.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := bundleClient(o)
			if err != nil {
				return err
			}
			return runBundle(cmd.Context(), cmd.OutOrStdout(), c, types.NamespacedName{Namespace: ns, Name: args[0]}, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.namespace, "namespace", "n", "", "namespace of the NetworkDiagnosis (default: the kubeconfig context's)")
	f.StringVarP(&o.output, "output", "o", "", "folder, or tarball when it ends in .tar.gz or .tgz (default NAME.tar.gz)")
	f.BoolVar(&o.redact, "redact", false, "replace names and addresses consistently")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "path to the kubeconfig (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&o.context, "context", "", "kubeconfig context to use")
	f.StringVar(&o.controllerNamespace, "controller-namespace", o.controllerNamespace, "namespace the controller runs in, where it keeps bundles")
	return cmd
}

// bundleClient is a client from the kubeconfig as kubectl finds it, and the namespace to use.
func bundleClient(o bundleOptions) (client.Client, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	kc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.context})
	cfg, err := kc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("read kubeconfig: %w", err)
	}
	ns := o.namespace
	if ns == "" {
		if ns, _, err = kc.Namespace(); err != nil {
			return nil, "", fmt.Errorf("read kubeconfig namespace: %w", err)
		}
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(corev1.AddToScheme(scheme))
	utilruntime.Must(diagv1alpha1.AddToScheme(scheme))
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", fmt.Errorf("create client: %w", err)
	}
	return c, ns, nil
}

func runBundle(ctx context.Context, w io.Writer, c client.Reader, key types.NamespacedName, o bundleOptions) error {
	path := o.output
	if path == "" {
		path = key.Name + ".tar.gz"
	}
	q, err := bundle.Export(ctx, c, key, o.controllerNamespace, bundle.ExportOptions{Path: path, Redact: o.redact, Plugins: plugins.Registry()})
	if err != nil {
		return err
	}
	_, err = fmt.Fprint(w, bundle.Hint(path, q))
	return err
}
