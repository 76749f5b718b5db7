package kubectlcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/buildinfo"
)

// deleteTimeout bounds the delete after an answer or an interrupt.
const deleteTimeout = 10 * time.Second

// options are what every command shares: kubectl's connection flags and -o.
type options struct {
	config  *genericclioptions.ConfigFlags
	streams genericiooptions.IOStreams
	output  string
}

// Main runs kubectl-netdiag with args and returns the process's exit code.
func Main(ctx context.Context, args []string, streams genericiooptions.IOStreams) int {
	cmd := NewCommand(streams)
	cmd.SetArgs(args)
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return ExitReachable
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(streams.ErrOut, "error:", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintln(streams.ErrOut, "error:", err)
	return ExitNoAnswer
}

// NewCommand is `kubectl netdiag` with its subcommands.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &options{config: genericclioptions.NewConfigFlags(true), streams: streams}
	var q questionFlags
	cmd := &cobra.Command{
		Use:   "netdiag SOURCE DESTINATION[:PORT]",
		Short: "Ask whether traffic gets from a source to a destination in the cluster, and why not",
		Long: `Ask the netdiag controller whether traffic gets from SOURCE to DESTINATION: a
NetworkDiagnosis is created, followed to its answer (progress on stderr) and its report
printed; the object is deleted afterwards unless --keep is given.

SOURCE is pod/NAME, node/NAME or ip/ADDRESS; DESTINATION is pod/NAME, svc/NAME, node/NAME,
ip/ADDRESS or a DNS name (name/db.data, or bare: db.data.svc.cluster.local, example.com), with
the port as :PORT or --port (TCP and UDP need one; for a service it is the service's port).
Pods and services are in -n's namespace unless named as pod/NAMESPACE/NAME; a name is
resolved as the source pod's resolver would, and the way to its nameserver is diagnosed too.

Exit codes: 0 Reachable; 1 Unreachable (and any verdict short of a full yes); 2 no answer:
Unknown, a failed or unfinished diagnosis, an interrupt, bad input or an API error.`,
		Example: `  kubectl netdiag pod/web svc/db:5432 -n shop
  kubectl netdiag pod/web pod/api --port 8080 --probe -n shop
  kubectl netdiag pod/web svc/dns:53 --udp -n shop
  kubectl netdiag pod/web db.data:5432 -n shop
  kubectl netdiag node/node-1 ip/10.0.0.7 --icmp
  kubectl netdiag get web-to-db-x7k2p --watch -n shop
  kubectl netdiag pod/web svc/db:5432 -n shop --keep --keep-snapshots
  kubectl netdiag bundle web-to-db-x7k2p -n shop --redact`,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl netdiag"},
		Args:          cobra.ArbitraryArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return o.ask(cmd.Context(), args, q)
		},
	}
	o.config.AddFlags(cmd.PersistentFlags())
	cmd.PersistentFlags().StringVarP(&o.output, "output", "o", "text", "output format: "+strings.Join(formatNames(), "|"))
	f := cmd.Flags()
	f.BoolVar(&q.udp, "udp", false, "ask about UDP instead of TCP")
	f.BoolVar(&q.sctp, "sctp", false, "ask about SCTP instead of TCP (answered from the rules: --probe cannot send SCTP)")
	f.BoolVar(&q.icmp, "icmp", false, "ask about ICMP (echo) instead of TCP; no port")
	f.BoolVar(&q.probe, "probe", false, "also send a real connection attempt from the source (needs create on networkdiagnoses/probe)")
	f.IntVar(&q.port, "port", 0, "destination port, when DESTINATION carries no :PORT")
	f.IntVar(&q.packetSize, "packet-size", 0, "ask about packets of this many bytes (the IP packet): \"small requests work, large ones hang\"; for TCP it caps the full-size segments")
	f.BoolVar(&q.dontFragment, "dont-fragment", false, "set DF on the UDP or ICMP packets of --packet-size")
	f.DurationVar(&q.timeout, "timeout", 0, "how long the controller may take, between 10s and 1h (default the API's, 2m)")
	f.BoolVar(&q.keep, "keep", false, "keep the NetworkDiagnosis after printing (default: delete it)")
	f.BoolVar(&q.keepSnapshots, "keep-snapshots", false, "keep what the engine read, for `kubectl netdiag bundle` (with --keep)")
	cmd.AddCommand(o.newGetCommand("get", "Print an existing NetworkDiagnosis: a table row, or -o yaml|json", writeRowNow),
		o.newGetCommand("describe", "Print an existing NetworkDiagnosis's full report, collectors, conditions and events", nil),
		o.newBundleCommand(),
		buildinfo.NewCommand("kubectl-netdiag"))
	return cmd
}

func writeRowNow(w io.Writer, nd *diagv1alpha1.NetworkDiagnosis) error {
	return writeRow(w, nd, time.Now())
}

// ask creates the diagnosis, follows it, prints it and deletes it.
func (o *options) ask(ctx context.Context, args []string, q questionFlags) error {
	write, err := printerFor(o.output, writeReport)
	if err != nil {
		return err
	}
	ns, err := o.namespace()
	if err != nil {
		return err
	}
	nd, err := newDiagnosis(args, q, ns)
	if err != nil {
		return err
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	started := time.Now()
	if err := c.Create(ctx, nd); err != nil {
		return fmt.Errorf("create NetworkDiagnosis in namespace %s: %w", ns, err)
	}
	key := client.ObjectKeyFromObject(nd)
	got, waitErr := waitFinished(ctx, c, key, started, waitLimit(nd), o.progress())
	if ctx.Err() != nil {
		o.cleanUp(nd, q.keep)
		return interrupted(key)
	}
	err = o.answer(write, got, waitErr)
	o.cleanUp(nd, q.keep)
	return err
}

// answer prints the diagnosis as last read and ends the command with its exit code.
func (o *options) answer(write printer, nd *diagv1alpha1.NetworkDiagnosis, waitErr error) error {
	if nd.Name != "" {
		if err := write(o.streams.Out, nd); err != nil {
			return err
		}
	}
	if waitErr != nil {
		return &ExitError{Code: ExitNoAnswer, Err: waitErr}
	}
	return &ExitError{Code: exitCode(nd)}
}

func interrupted(key client.ObjectKey) error {
	return &ExitError{Code: ExitNoAnswer, Err: fmt.Errorf("interrupted before NetworkDiagnosis %s finished", key)}
}

// cleanUp deletes the diagnosis unless keep, or says where it is kept. It runs on its own
// context: after an interrupt the command's is done.
func (o *options) cleanUp(nd *diagv1alpha1.NetworkDiagnosis, keep bool) {
	if keep {
		fmt.Fprintf(o.streams.ErrOut, "Kept networkdiagnosis/%s in namespace %s\n", nd.Name, nd.Namespace)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	defer cancel()
	c, err := o.client()
	if err == nil {
		err = client.IgnoreNotFound(c.Delete(ctx, nd, client.PropagationPolicy(metav1.DeletePropagationBackground)))
	}
	if err != nil {
		fmt.Fprintf(o.streams.ErrOut, "warning: delete networkdiagnosis/%s: %v (its ttlSecondsAfterFinished removes it within %ds of finishing)\n",
			nd.Name, err, cleanupTTL)
	}
}

// newGetCommand reads an existing diagnosis; text prints it as the command's own text (nil
// for the full description).
func (o *options) newGetCommand(name, short string, text printer) *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:   name + " NAME",
		Short: short,
		Long: short + `.

With --watch it waits, with progress on stderr, until the diagnosis has finished. The exit
code is the answer's, as for a question: 0 Reachable, 1 Unreachable, 2 none (yet).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.get(cmd.Context(), args[0], watch, text)
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "wait until the diagnosis has finished")
	return cmd
}

func (o *options) get(ctx context.Context, name string, watch bool, text printer) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	if text == nil {
		text = func(w io.Writer, nd *diagv1alpha1.NetworkDiagnosis) error {
			return writeDescription(w, nd, o.events(ctx, c, nd))
		}
	}
	write, err := printerFor(o.output, text)
	if err != nil {
		return err
	}
	ns, err := o.namespace()
	if err != nil {
		return err
	}
	key := client.ObjectKey{Namespace: ns, Name: name}
	nd := &diagv1alpha1.NetworkDiagnosis{}
	if err := c.Get(ctx, key, nd); err != nil {
		return fmt.Errorf("get NetworkDiagnosis %s: %w", key, err)
	}
	var waitErr error
	if watch && !nd.Status.Phase.Finished() {
		started := nd.CreationTimestamp.Time
		if started.After(time.Now()) { // the API server's clock is ahead of this one
			started = time.Now()
		}
		nd, waitErr = waitFinished(ctx, c, key, started, waitLimit(nd), o.progress())
		if ctx.Err() != nil {
			return interrupted(key)
		}
	}
	return o.answer(write, nd, waitErr)
}

// events are the diagnosis's events, oldest first; none when they cannot be read, which
// only costs the description its last section.
func (o *options) events(ctx context.Context, c client.Client, nd *diagv1alpha1.NetworkDiagnosis) []corev1.Event {
	list := &corev1.EventList{}
	err := c.List(ctx, list, client.InNamespace(nd.Namespace), client.MatchingFieldsSelector{
		Selector: fields.SelectorFromSet(fields.Set{"involvedObject.name": nd.Name, "involvedObject.kind": "NetworkDiagnosis"}),
	})
	if err != nil {
		fmt.Fprintf(o.streams.ErrOut, "warning: list events of networkdiagnosis/%s: %v\n", nd.Name, err)
		return nil
	}
	var out []corev1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.UID == "" || e.InvolvedObject.UID == nd.UID {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b corev1.Event) int { return eventTime(a).Compare(eventTime(b)) })
	return out
}

func (o *options) namespace() (string, error) {
	ns, _, err := o.config.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("read the namespace from the kubeconfig: %w", err)
	}
	return ns, nil
}

func (o *options) client() (client.Client, error) {
	cfg, err := o.config.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("read the kubeconfig: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := diagv1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("connect to the API server at %s: %w", cfg.Host, err)
	}
	return c, nil
}

// progress draws on stderr, in place when stderr is a terminal.
func (o *options) progress() *progress {
	f, ok := o.streams.ErrOut.(*os.File)
	return &progress{w: o.streams.ErrOut, tty: ok && term.IsTerminal(int(f.Fd()))}
}
