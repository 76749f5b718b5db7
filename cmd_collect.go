package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/textlogger"

	"github.com/netdiag/netdiag/internal/collector"
	"github.com/netdiag/netdiag/internal/netstack"
)

// collectOptions are the flags of `netdiag collect`. The controller starts collector pods
// with exactly these.
type collectOptions struct {
	node            string
	pods            []string
	output          string
	uploadNamespace string
	diagnosisUID    string
	snapshotPrefix  string
	podName         string
	podUID          string
	kubeconfig      string
	apiServers      []string
	probeFrom       string
	probeTo         string
	probeProtocol   string
	probePort       uint16
	probeTimeout    time.Duration
	netnsDirs       []string
	proc            string
	timeout         time.Duration
	verbosity       int
	lookup          lookupFlags
}

func newCollectCommand() *cobra.Command {
	o := collectOptions{node: os.Getenv("NODE_NAME"), podName: os.Getenv("POD_NAME"), podUID: os.Getenv("POD_UID")}
	cmd := &cobra.Command{
		Use:   "collect",
		Short: "Collect this node's network state and that of some of its pods",
		Long: `Collect the network state of this node (the collector's own network namespace) and of
the pods named by --pod (found by their IP among the namespaces under --netns-dirs, else
those of the processes under --proc): links, addresses, routes of every table, policy rules,
neighbours, fdb, sysctls, iptables, nftables, ipsets, ipvs and listening sockets.

The snapshot goes to --output (a file, or - for standard output), or to the API server as
ConfigMaps in --upload-namespace. Run as root (privileged, hostNetwork, hostPID in a pod).`,
		Example: `  # A support bundle of this node and one pod:
  sudo netdiag collect --node "$(hostname)" --pod default/web-0=10.244.1.7 --output node.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCollect(cmd.Context(), o, cmd.OutOrStdout()) },
	}
	f := cmd.Flags()
	f.StringVar(&o.node, "node", o.node, "name of this node (default $NODE_NAME)")
	f.StringArrayVar(&o.pods, "pod", nil, "a pod whose namespace to collect, as <namespace>/<name>=<ip> (repeatable)")
	f.StringVar(&o.output, "output", "", `write the snapshot to this file ("-" for standard output) instead of uploading it`)
	f.StringVar(&o.uploadNamespace, "upload-namespace", "", "namespace to upload the snapshot ConfigMaps to")
	f.StringVar(&o.diagnosisUID, "diagnosis-uid", "", "UID of the NetworkDiagnosis, labelled on the ConfigMaps")
	f.StringVar(&o.snapshotPrefix, "snapshot-prefix", "", "name prefix of the snapshot ConfigMaps")
	f.StringVar(&o.podName, "pod-name", o.podName, "name of the collector's own pod, the owner of the snapshot ConfigMaps (default $POD_NAME)")
	f.StringVar(&o.podUID, "pod-uid", o.podUID, "UID of the collector's own pod (default $POD_UID)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig to reach the API server (default: the in-cluster config)")
	f.StringSliceVar(&o.apiServers, "api-server", nil, "reach the API server at these <address>:<port> (the kubernetes EndpointSlice's), tried in turn, instead of through the kubernetes Service, whose rules on this node may be what is broken")
	f.StringVar(&o.probeFrom, "probe-from", "", `send a real connection attempt from "node" or "pod:<namespace>/<name>" (one of --pod)`)
	f.StringVar(&o.probeTo, "probe-to", "", "destination IP of the probe")
	f.StringVar(&o.probeProtocol, "probe-protocol", "TCP", "protocol of the probe: TCP, UDP or ICMP")
	f.Uint16Var(&o.probePort, "probe-port", 0, "destination port of a TCP or UDP probe")
	f.DurationVar(&o.probeTimeout, "probe-timeout", collector.DefaultProbeTimeout, "how long the probe waits for an answer")
	f.StringSliceVar(&o.netnsDirs, "netns-dirs", collector.DefaultNetNSDirs, "directories where runtimes bind-mount network namespaces, searched before --proc")
	f.StringVar(&o.proc, "proc", "/proc", "proc filesystem of the node's PID namespace (hostPID), to find namespaces through processes")
	f.DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up on collecting and uploading after this long")
	f.IntVarP(&o.verbosity, "v", "v", 0, "log verbosity: 1 says what happened, 2 and more how")
	o.lookup.bind(f)
	return cmd
}

// parsePodFlag parses "<namespace>/<name>=<ip>".
func parsePodFlag(s string) (netstack.PodRef, error) {
	ref, ipStr, ok := strings.Cut(s, "=")
	ns, name, ok2 := strings.Cut(ref, "/")
	if !ok || !ok2 || ns == "" || name == "" || strings.Contains(name, "/") {
		return netstack.PodRef{}, fmt.Errorf("--pod %q: want <namespace>/<name>=<ip>", s)
	}
	ip, err := netip.ParseAddr(ipStr)
	if err != nil {
		return netstack.PodRef{}, fmt.Errorf("--pod %q: %w", s, err)
	}
	return netstack.PodRef{Namespace: ns, Name: name, IP: ip}, nil
}

// collectorOptions turns the flags into what the collector needs, checking them first.
func (o collectOptions) collectorOptions() (collector.Options, error) {
	if o.node == "" {
		return collector.Options{}, errors.New("--node is required (or set NODE_NAME)")
	}
	opts := collector.Options{Node: o.node, NetNSDirs: o.netnsDirs, Proc: o.proc}
	for _, p := range o.pods {
		ref, err := parsePodFlag(p)
		if err != nil {
			return opts, err
		}
		opts.Pods = append(opts.Pods, ref)
	}
	if o.output == "" && (o.uploadNamespace == "" || o.diagnosisUID == "" || o.snapshotPrefix == "") {
		return opts, errors.New("either --output, or --upload-namespace, --diagnosis-uid and --snapshot-prefix, are required")
	}
	if o.output == "" && (o.podName == "" || o.podUID == "") {
		return opts, errors.New("uploading needs the collector's own pod: --pod-name and --pod-uid (or POD_NAME and POD_UID)")
	}
	lookup, err := o.lookup.spec(opts.Pods)
	if err != nil {
		return opts, err
	}
	opts.Lookup = lookup
	if o.probeFrom == "" {
		return opts, nil
	}
	to, err := netip.ParseAddr(o.probeTo)
	if err != nil {
		return opts, fmt.Errorf("--probe-to: %w", err)
	}
	probe := &collector.ProbeSpec{To: to, Protocol: strings.ToUpper(o.probeProtocol), Port: o.probePort, Timeout: o.probeTimeout}
	switch {
	case o.probeFrom == "node":
	case strings.HasPrefix(o.probeFrom, "pod:"):
		probe.FromPod = strings.TrimPrefix(o.probeFrom, "pod:")
		known := false
		for _, p := range opts.Pods {
			known = known || p.Namespace+"/"+p.Name == probe.FromPod
		}
		if !known {
			return opts, fmt.Errorf("--probe-from %s: the pod must also be named by --pod", o.probeFrom)
		}
	default:
		return opts, fmt.Errorf(`--probe-from %q: want "node" or "pod:<namespace>/<name>"`, o.probeFrom)
	}
	switch probe.Protocol {
	case "TCP", "UDP":
		if probe.Port == 0 {
			return opts, fmt.Errorf("--probe-port is required for a %s probe", probe.Protocol)
		}
	case "ICMP":
	case "SCTP":
		return opts, errors.New("--probe-protocol SCTP: the probe sends TCP, UDP and ICMP only; an SCTP question is answered from the rules alone")
	default:
		return opts, fmt.Errorf("--probe-protocol %q: want TCP, UDP or ICMP", o.probeProtocol)
	}
	opts.Probe = probe
	return opts, nil
}

func runCollect(ctx context.Context, o collectOptions, stdout io.Writer) error {
	log := textlogger.NewLogger(textlogger.NewConfig(textlogger.Verbosity(o.verbosity)))
	klog.SetLogger(log)
	opts, err := o.collectorOptions()
	if err != nil {
		return err
	}
	apiServers, err := collector.ParseAPIServerEndpoints(o.apiServers)
	if err != nil {
		return fmt.Errorf("--api-server: %w", err)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	ctx = logr.NewContext(ctx, log)

	start := time.Now()
	snap, err := collector.Collect(ctx, opts)
	if err != nil {
		return err
	}
	log.Info("Collected node", "node", opts.Node, "pods", len(opts.Pods), "took", time.Since(start).Round(time.Millisecond))

	if o.output != "" {
		return writeSnapshot(snap, o.output, stdout)
	}
	cfg, err := collectRestConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	if len(apiServers) > 0 {
		cfg.Dial = collector.DialAPIServer(apiServers, collector.DefaultAPIServerDialTimeout)
		log.V(1).Info("Reaching the API server at its endpoints", "endpoints", o.apiServers, "url", cfg.Host)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("create API client: %w", err)
	}
	dst := collector.Destination{Namespace: o.uploadNamespace, Prefix: o.snapshotPrefix, DiagnosisUID: o.diagnosisUID, Pod: o.podName, PodUID: types.UID(o.podUID)}
	if err := collector.Upload(ctx, cs, snap, dst); err != nil {
		return err
	}
	log.Info("Uploaded snapshot", "node", opts.Node, "namespace", o.uploadNamespace, "prefix", o.snapshotPrefix)
	return nil
}

// collectRestConfig reads the kubeconfig named by the flag, else the pod's in-cluster
// config: a collector never goes looking for a user's kubeconfig.
func collectRestConfig(path string) (*rest.Config, error) {
	if path == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster config (or pass --kubeconfig): %w", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

func writeSnapshot(snap *netstack.NodeSnapshot, path string, stdout io.Writer) error {
	b, err := json.MarshalIndent(snap, "", "  ")
	if err != nil {
		return fmt.Errorf("encode snapshot: %w", err)
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = stdout.Write(b)
		return err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}
